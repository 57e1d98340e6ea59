#include "nbd-bridge/block_adapter.h"

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "tests/nbd-bridge/test_bytes.h"
#include "tests/support/memory_device.h"

using namespace aoe::nbd;
using aoe::test::Bytes;
using aoe::test::MemoryDevice;
using aoe::test::pattern;
namespace asio = boost::asio;

namespace {

// Runs one adapter operation to completion; returns its error.
template <typename Op>
std::error_code run(asio::io_context& io, Op op) {
  std::error_code result = std::make_error_code(std::errc::interrupted);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { result = co_await op(); }, asio::detached);
  io.restart();
  io.run();
  return result;
}

}  // namespace

TEST_CASE("test-nbd-adapter-split-large-requests") {
  asio::io_context io;
  MemoryDevice device(io, 1 << 20, true, 4096);
  BlockAdapter adapter(device);
  const Bytes data = pattern(20000, 1);
  REQUIRE_FALSE(run(io, [&] { return adapter.write(1001, data, false); }));
  Bytes out(20000);
  REQUIRE_FALSE(run(io, [&] { return adapter.read(1001, out); }));
  CHECK(out == data);
  CHECK(device.rejected == 0);  // every device request aligned and within 4096 bytes
  CHECK(std::equal(data.begin(), data.end(), device.data().begin() + 1001));
  CHECK(std::all_of(device.data().begin(), device.data().begin() + 1001, [](std::byte b) { return b == std::byte{0}; }));
}

// A request split into device requests fails with the first failing
// part's error, sends nothing after it, and holds its range until then.
TEST_CASE("test-nbd-adapter-split-middle-part-fails") {
  asio::io_context io;
  MemoryDevice device(io, 1 << 20, true, 4096);
  BlockAdapter adapter(device);
  const Bytes data = pattern(3 * 4096, 2);
  device.fail_op(2, aoe::errc::ata_media_error);
  CHECK(run(io, [&] { return adapter.write(0, data, false); }) == aoe::errc::ata_media_error);
  CHECK(device.writes == 2);  // the third part never went out
  CHECK(std::equal(data.begin(), data.begin() + 4096, device.data().begin()));
  CHECK(std::all_of(device.data().begin() + 4096, device.data().begin() + 3 * 4096,
                    [](std::byte b) { return b == std::byte{0}; }));
  Bytes out(3 * 4096);
  device.fail_op(2, aoe::errc::target_down);
  CHECK(run(io, [&] { return adapter.read(0, out); }) == aoe::errc::target_down);
  CHECK(device.reads == 2);
  CHECK_FALSE(run(io, [&] { return adapter.write(0, data, false); }));  // the range was released
  CHECK(std::equal(data.begin(), data.end(), device.data().begin()));
}

TEST_CASE("test-nbd-adapter-write-zeroes") {
  asio::io_context io;
  MemoryDevice device(io, 8 << 20, true, 64 * 1024);
  std::fill(device.data().begin(), device.data().end(), std::byte{0xee});
  BlockAdapter adapter(device);
  REQUIRE_FALSE(run(io, [&] { return adapter.write_zeroes(3, (5 << 20) + 10, true); }));
  CHECK(device.data()[2] == std::byte{0xee});
  CHECK(std::all_of(device.data().begin() + 3, device.data().begin() + 3 + (5 << 20) + 10,
                    [](std::byte b) { return b == std::byte{0}; }));
  CHECK(device.data()[3 + (5 << 20) + 10] == std::byte{0xee});
  CHECK(device.flushes == 1);  // FUA
  CHECK(device.rejected == 0);
}

TEST_CASE("test-nbd-adapter-overlap-serialised") {
  asio::io_context io;
  MemoryDevice device(io, 64 * 1024);
  device.jitter = std::chrono::milliseconds(3);
  BlockAdapter adapter(device);
  Bytes model(64 * 1024);
  std::vector<Bytes> writes;
  std::vector<Bytes> reads(50, Bytes(3000));
  std::vector<Bytes> expected_reads(50);
  unsigned failures = 0;
  for (unsigned i = 0; i < 50; ++i) {
    const std::uint64_t off = (i * 613) % 9000;
    writes.push_back(pattern(50 + (i * 997) % 6000, i));
    std::copy(writes.back().begin(), writes.back().end(), model.begin() + static_cast<long>(off));
    asio::co_spawn(io, [&, i, off]() -> asio::awaitable<void> {
      if (co_await adapter.write(off, writes[i], false)) ++failures;
    }, asio::detached);
    // A read issued after the write sees it (and the writes before it).
    expected_reads[i].assign(model.begin() + 1000, model.begin() + 4000);
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> {
      if (co_await adapter.read(1000, reads[i])) ++failures;
    }, asio::detached);
  }
  io.run();
  CHECK(failures == 0);
  CHECK(device.data() == model);
  for (unsigned i = 0; i < 50; ++i) CHECK(reads[i] == expected_reads[i]);
  CHECK(device.max_conflicting_overlap == 0);
  CHECK(device.rejected == 0);
}

TEST_CASE("test-nbd-adapter-disjoint-run-concurrently") {
  asio::io_context io;
  MemoryDevice device(io, 1 << 20);
  device.delay = std::chrono::milliseconds(5);
  BlockAdapter adapter(device);
  std::vector<Bytes> bufs(16, Bytes(4096));
  for (unsigned i = 0; i < 16; ++i) {
    asio::co_spawn(io, [&, i]() -> asio::awaitable<void> { co_await adapter.write(i * 8192, bufs[i], false); },
                   asio::detached);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await adapter.read(1000, bufs[0]); }, asio::detached);
  }
  io.run();
  CHECK(device.max_in_flight > 8);  // disjoint writes and overlapping reads do not wait
  CHECK(device.max_conflicting_overlap == 0);
}

TEST_CASE("test-nbd-adapter-error-propagates") {
  asio::io_context io;
  MemoryDevice device(io, 1 << 20, true, 4096);
  BlockAdapter adapter(device);
  const Bytes big(16384), small(10), ones(10, std::byte{1});  // outlive the operations
  device.fail_op(2, aoe::errc::target_down);  // the second piece of a split write
  CHECK(run(io, [&] { return adapter.write(0, big, true); }) == aoe::errc::target_down);
  CHECK(device.flushes == 0);  // FUA not attempted after a failed write
  device.fail_op(1, aoe::errc::ata_media_error);  // the RMW's read
  CHECK(run(io, [&] { return adapter.write(100, small, false); }) == aoe::errc::ata_media_error);
  Bytes out(10);
  device.fail_op(1, aoe::errc::out_of_range);
  CHECK(run(io, [&] { return adapter.read(100, out); }) == aoe::errc::out_of_range);
  CHECK_FALSE(run(io, [&] { return adapter.write(100, ones, false); }));  // lock released
  CHECK(device.data()[100] == std::byte{1});
}

TEST_CASE("test-nbd-adapter-no-flush-device") {
  asio::io_context io;
  MemoryDevice device(io, 1 << 20, false);
  BlockAdapter adapter(device);
  CHECK_FALSE(adapter.can_flush());
  CHECK_FALSE(run(io, [&] { return adapter.flush(); }));
  CHECK(device.flushes == 0);
}
