// The ublk queue (daemon/ublk_queue.h) against a fake kernel side: the
// descriptors it reads and the commands it sends, over an in-memory
// engine.  What the fake cannot show (the real driver's io_uring commands,
// START_DEV, recovery) the VM tests do (tests/vm/test-kernel-ublk.sh).
// Also the pure takeover decisions (daemon/ublk_takeover.h).
#include "daemon/ublk_queue.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "daemon/ublk_takeover.h"
#include "tests/support/memory_device.h"

using namespace aoe;
using namespace aoe::daemon;

namespace {

struct Command {
  bool commit;  // COMMIT_AND_FETCH_REQ, else FETCH_REQ
  std::uint16_t tag;
  std::int32_t result;
  std::byte* buffer;
};

class FakeQueueKernel final : public UblkQueueKernel {
 public:
  explicit FakeQueueKernel(unsigned depth) : descriptors(depth) {}
  const ublk::IoDesc& descriptor(std::uint16_t tag) const override { return descriptors.at(tag); }
  void fetch(std::uint16_t tag, std::byte* buffer) override { sent.push_back({false, tag, 0, buffer}); }
  void commit_and_fetch(std::uint16_t tag, std::int32_t result, std::byte* buffer) override {
    sent.push_back({true, tag, result, buffer});
  }
  // The kernel hands `tag` a request.
  void request(std::uint16_t tag, std::uint8_t op, std::uint64_t sector, std::uint32_t sectors,
               std::uint32_t flags = 0) {
    descriptors.at(tag) = ublk::IoDesc{op | flags, sectors, sector, 0};
  }
  std::vector<ublk::IoDesc> descriptors;
  std::vector<Command> sent;
};

constexpr UblkQueueSettings settings{4, 64u << 10};

struct Fixture {
  boost::asio::io_context io;
  test::MemoryDevice device;
  UblkQueue queue{device, settings};
  FakeQueueKernel kernel{settings.depth};

  explicit Fixture(bool can_flush = true) : device(io, 1u << 20, can_flush) {
    queue.start(kernel);
    kernel.sent.clear();
  }
  // Runs the request the kernel put in `tag`'s descriptor; returns the commit.
  Command serve(std::uint16_t tag) {
    queue.on_completion(tag, ublk::io_res_ok);
    io.run();
    io.restart();
    REQUIRE(kernel.sent.size() == 1);
    auto c = kernel.sent.back();
    kernel.sent.clear();
    return c;
  }
};

}  // namespace

TEST_CASE("test-ublk-queue-start: every tag is fetched, each with a buffer of its own") {
  boost::asio::io_context io;
  test::MemoryDevice device{io, 1u << 20};
  UblkQueue queue{device, settings};
  FakeQueueKernel kernel{settings.depth};
  queue.start(kernel);
  REQUIRE(kernel.sent.size() == settings.depth);
  for (std::uint16_t tag = 0; tag < settings.depth; ++tag) {
    CHECK_FALSE(kernel.sent[tag].commit);
    CHECK(kernel.sent[tag].tag == tag);
    CHECK(kernel.sent[tag].buffer == queue.buffer(tag));
  }
  CHECK(queue.buffer(1) - queue.buffer(0) == static_cast<std::ptrdiff_t>(settings.buffer_bytes));
}

TEST_CASE("test-ublk-queue-read: the descriptor's sectors land in the tag's buffer, committed as bytes") {
  Fixture f;
  for (std::size_t i = 0; i < f.device.data().size(); ++i) f.device.data()[i] = std::byte(i * 7 % 251);
  f.kernel.request(2, ublk::op_read, 8, 3);
  auto c = f.serve(2);
  CHECK(c.commit);
  CHECK(c.tag == 2);
  CHECK(c.result == 3 * 512);
  CHECK(c.buffer == f.queue.buffer(2));
  CHECK(std::memcmp(f.queue.buffer(2), f.device.data().data() + 8 * 512, 3 * 512) == 0);
  CHECK(f.queue.in_engine() == 0);
}

TEST_CASE("test-ublk-queue-write: the buffer's data is written; FUA adds a flush") {
  Fixture f;
  std::memset(f.queue.buffer(1), 0x5a, 1024);
  f.kernel.request(1, ublk::op_write, 4, 2);
  CHECK(f.serve(1).result == 1024);
  CHECK(f.device.data()[4 * 512] == std::byte{0x5a});
  CHECK(f.device.data()[6 * 512 - 1] == std::byte{0x5a});
  CHECK(f.device.data()[6 * 512] == std::byte{0});
  CHECK(f.device.flushes == 0);

  f.kernel.request(1, ublk::op_write, 100, 1, ublk::io_f_fua);
  CHECK(f.serve(1).result == 512);
  CHECK(f.device.flushes == 1);
}

TEST_CASE("test-ublk-queue-flush: a flush reaches the engine, unless it has nothing to flush") {
  SECTION("volatile cache") {
    Fixture f;
    f.kernel.request(0, ublk::op_flush, 0, 0);
    CHECK(f.serve(0).result == 0);
    CHECK(f.device.flushes == 1);
  }
  SECTION("no flush offered") {
    Fixture f(false);
    f.kernel.request(0, ublk::op_flush, 0, 0);
    CHECK(f.serve(0).result == 0);
    CHECK(f.device.flushes == 0);
    f.kernel.request(0, ublk::op_write, 0, 1, ublk::io_f_fua);
    CHECK(f.serve(0).result == 512);
    CHECK(f.device.flushes == 0);
  }
}

TEST_CASE("test-ublk-queue-errors: engine errors, unsupported and oversized requests commit -errno") {
  Fixture f;
  SECTION("an engine error") {
    f.device.fail_op(1, make_error_code(errc::ata_media_error));
    f.kernel.request(3, ublk::op_read, 0, 1);
    CHECK(f.serve(3).result == -EIO);
  }
  SECTION("past the end") {
    f.kernel.request(3, ublk::op_read, (1u << 20) / 512, 1);
    CHECK(f.serve(3).result < 0);
  }
  SECTION("discard and write-zeroes are not offered") {
    f.kernel.request(3, ublk::op_discard, 0, 8);
    CHECK(f.serve(3).result == -EOPNOTSUPP);
    f.kernel.request(3, ublk::op_write_zeroes, 0, 8);
    CHECK(f.serve(3).result == -EOPNOTSUPP);
    CHECK(f.device.ops == 0);
  }
  SECTION("larger than the tag's buffer") {
    f.kernel.request(3, ublk::op_write, 0, settings.buffer_bytes / 512 + 1);
    CHECK(f.serve(3).result == -EINVAL);
    CHECK(f.device.ops == 0);
  }
}

TEST_CASE("test-ublk-queue-claim: writes fail with EPERM while the guard refuses them; reads run") {
  Fixture f;
  bool refused = true;
  f.queue.set_write_guard([&] { return refused; });
  std::memset(f.queue.buffer(0), 0x11, 512);
  f.kernel.request(0, ublk::op_write, 0, 1);
  CHECK(f.serve(0).result == -EPERM);
  CHECK(f.device.data()[0] == std::byte{0});
  f.kernel.request(0, ublk::op_read, 0, 1);
  CHECK(f.serve(0).result == 512);
  refused = false;
  std::memset(f.queue.buffer(0), 0x11, 512);  // the read filled the buffer
  f.kernel.request(0, ublk::op_write, 0, 1);
  CHECK(f.serve(0).result == 512);
  CHECK(f.device.data()[0] == std::byte{0x11});
}

TEST_CASE("test-ublk-queue-concurrent: requests of several tags complete in any order, each to its tag") {
  Fixture f;
  f.device.jitter = std::chrono::microseconds(500);
  for (std::uint16_t tag = 0; tag < settings.depth; ++tag) {
    std::memset(f.queue.buffer(tag), 0x20 + tag, 4096);
    f.kernel.request(tag, ublk::op_write, tag * 8u, 8);
    f.queue.on_completion(tag, ublk::io_res_ok);
  }
  CHECK(f.queue.in_engine() == settings.depth);
  f.io.run();
  REQUIRE(f.kernel.sent.size() == settings.depth);
  std::vector<bool> seen(settings.depth);
  for (const auto& c : f.kernel.sent) {
    CHECK(c.commit);
    CHECK(c.result == 4096);
    seen.at(c.tag) = true;
  }
  CHECK(std::count(seen.begin(), seen.end(), true) == static_cast<std::ptrdiff_t>(settings.depth));
  for (unsigned tag = 0; tag < settings.depth; ++tag) CHECK(f.device.data()[tag * 4096 + 1] == std::byte(0x20 + tag));
}

TEST_CASE("test-ublk-queue-abort: ABORT on every tag calls the listener once; stray completions are ignored") {
  Fixture f;
  int aborts = 0;
  f.queue.set_abort_listener([&] { ++aborts; });
  for (std::uint16_t tag = 0; tag + 1u < settings.depth; ++tag) f.queue.on_completion(tag, ublk::io_res_abort);
  CHECK(aborts == 0);
  CHECK_FALSE(f.queue.aborted());
  f.queue.on_completion(0, ublk::io_res_abort);  // no command outstanding for tag 0 any more
  f.queue.on_completion(99, ublk::io_res_ok);    // no such tag
  CHECK(aborts == 0);
  f.queue.on_completion(settings.depth - 1, ublk::io_res_abort);
  CHECK(aborts == 1);
  CHECK(f.queue.aborted());
  CHECK(f.kernel.sent.empty());
}

TEST_CASE("test-ublk-queue-detach: a request finishing after the kernel side closed sends nothing") {
  Fixture f;
  f.kernel.request(1, ublk::op_read, 0, 1);
  f.queue.on_completion(1, ublk::io_res_ok);
  CHECK(f.queue.in_engine() == 1);
  f.queue.detach();
  f.io.run();
  CHECK(f.queue.in_engine() == 0);
  CHECK(f.kernel.sent.empty());
  // A new kernel side (a recovery) fetches every tag again.
  FakeQueueKernel next{settings.depth};
  f.queue.start(next);
  CHECK(next.sent.size() == settings.depth);
}

TEST_CASE("test-ublk-takeover-mark: our mark names the target, and nothing else is taken for one") {
  const auto mark = ublk_mark(65534, 254);
  auto t = target_of_ublk_mark(mark);
  REQUIRE(t);
  CHECK(t->shelf == 65534);
  CHECK(t->slot == 254);
  CHECK(ublk_mark(1, 2) != ublk_mark(2, 1));
  CHECK_FALSE(target_of_ublk_mark(0));
  CHECK_FALSE(target_of_ublk_mark(mark | 1ull << 30));
  CHECK_FALSE(target_of_ublk_mark(mark ^ 1ull << 63));
}

TEST_CASE("test-ublk-takeover-states: what a starting aoe-attach does with a device left behind") {
  ublk::DevInfo info{};
  info.flags = ublk::f_user_recovery | ublk::f_user_recovery_reissue;
  info.state = ublk::state_quiesced;
  CHECK(takeover_of(info, false) == Takeover::recover);
  info.state = ublk::state_live;
  CHECK(takeover_of(info, true) == Takeover::served);
  CHECK(takeover_of(info, false) == Takeover::wait);  // the kernel has not quiesced it yet
  info.state = ublk::state_dead;
  CHECK(takeover_of(info, false) == Takeover::replace);
  CHECK(takeover_of(info, true) == Takeover::served);  // still being set up by its server
  info.flags = 0;  // no recovery: its I/O failed with its server
  info.state = ublk::state_live;
  CHECK(takeover_of(info, false) == Takeover::replace);
  CHECK(takeover_of(info, true) == Takeover::served);
}
