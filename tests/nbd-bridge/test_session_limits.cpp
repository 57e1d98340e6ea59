// Misbehaving clients and memory limits: deadlines, the shutdown answers,
// the server's buffer pool and its budget.
#include "nbd-bridge/session.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "tests/nbd-bridge/nbd_harness.h"

using namespace aoe::nbd;
using namespace std::chrono_literals;
using aoe::test::Bytes;
using aoe::test::Harness;
using aoe::test::MiB;
using aoe::test::no_memory;
using aoe::test::RawClient;
using aoe::test::pattern;

namespace {

ExportOptions draining_within(std::chrono::milliseconds limit) {
  ExportOptions options;
  options.drain_timeout = limit;
  return options;
}

Bytes go_data() {
  Bytes d(6);  // empty name, no information requests
  return d;
}

}  // namespace

TEST_CASE("test-nbd-handshake-deadline-closes-idle") {
  ExportOptions options;
  options.max_connections = 2;
  options.handshake_timeout = 500ms;
  Harness h(1 << 20, options);
  h.run();
  // Two clients that never finish would hold every connection forever.
  RawClient silent(h.listener_fd());
  RawClient stalled(h.listener_fd());
  stalled.receive(18);
  stalled.send(Bytes(4));  // client flags, then no option
  CHECK(silent.closed_by_server());
  CHECK(stalled.closed_by_server());
  CHECK(h.eventually([&] { return h.server.connection_count() == 0; }));

  RawClient ok(h.listener_fd());
  ok.handshake_go();
  std::this_thread::sleep_for(700ms);  // past the deadline: no longer applies
  CHECK(ok.read(0, 512).size() == 512);
}

TEST_CASE("test-nbd-drain-client-not-reading-bounded") {
  Harness h(16 << 20, draining_within(200ms));
  h.run();
  RawClient c(h.transmission_fd());
  // 16 MiB of replies the client never reads (its socket queues 8 MiB at
  // most): the writer blocks, and the replies behind it hold pool buffers.
  for (std::uint64_t i = 0; i < 16; ++i) c.request(cmd_read, i, (i % 12) * MiB, MiB);
  REQUIRE(h.eventually([&] { return h.device.reads == 16 && h.device.in_flight == 0; }));
  REQUIRE(h.on_io([&] { return h.server.buffer_pool().in_use_bytes(); }) >= MiB);
  // And a write still at the target when the drain gives up on the client.
  h.on_io([&] { h.device.delay = 1000ms; });
  c.request(cmd_write, 100, 12 * MiB, 4096, pattern(4096, 9));
  REQUIRE(h.eventually([&] { return h.device.in_flight == 1; }));

  // The drain gives up on the client at 200 ms, but its end waits for the
  // write: what the device still had in flight when the shutdown completed.
  std::promise<unsigned> in_flight_at_end;
  h.on_io([&] { h.server.shutdown([&] { in_flight_at_end.set_value(h.device.in_flight); }); });
  auto done = in_flight_at_end.get_future();
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  // Not before the target finished the write (its buffer lives until then)...
  CHECK(done.get() == 0);
  CHECK(h.on_io([&] {
    return std::equal(h.device.data().begin() + 12 * MiB, h.device.data().begin() + 12 * MiB + 4096,
                      pattern(4096, 9).begin());
  }));
  // ...and the client, whose replies were dropped, was closed.
  CHECK(c.closed_by_server());
  CHECK(h.on_io([&] { return h.server.buffer_pool().in_use_bytes(); }) == 0);
}

// The requests a client sent before the shutdown are still read and
// answered (Session::shutdown); a client that sent more than a full queue
// and reads no reply must not hold the stop open for that.
TEST_CASE("test-nbd-shutdown-bounded-with-a-full-queue-unread") {
  Harness h(16 << 20, draining_within(200ms));
  h.run();
  RawClient c(h.transmission_fd());
  // 2 x max_in_flight READs of 64 KiB: 16 MiB of replies, more than the
  // socket holds, so the writer blocks and the reader waits for a slot.
  const std::uint64_t sent = 2 * Session::max_in_flight;
  for (std::uint64_t i = 0; i < sent; ++i) c.request(cmd_read, i, (i % 256) * 65536, 65536);
  REQUIRE(h.eventually([&] { return h.device.reads >= Session::max_in_flight; }));
  auto done = h.begin_shutdown();
  CHECK(done.wait_for(5s) == std::future_status::ready);
  CHECK(c.closed_by_server());
}

TEST_CASE("test-nbd-handshake-shutdown-answers-err-shutdown") {
  Harness h;
  h.run();
  RawClient c(h.listener_fd());
  c.receive(18);
  c.send(Bytes(4));
  auto done = h.begin_shutdown();
  c.send_option(opt_list, Bytes{});
  CHECK(c.receive_option_reply().type == rep_err_shutdown);
  c.send_option(opt_go, go_data());
  CHECK(c.receive_option_reply().type == rep_err_shutdown);
  c.send_option(opt_abort, Bytes{});
  CHECK(c.receive_option_reply().type == rep_ack);
  CHECK(c.closed_by_server());
  CHECK(done.wait_for(5s) == std::future_status::ready);
}

TEST_CASE("test-nbd-handshake-shutdown-idle-bounded") {
  Harness h(1 << 20, draining_within(200ms));
  h.run();
  RawClient c(h.listener_fd());
  c.receive(18);  // and then silence: shutdown must not wait for it
  auto done = h.begin_shutdown();
  CHECK(done.wait_for(3s) == std::future_status::ready);
  CHECK(c.closed_by_server());
}

TEST_CASE("test-nbd-session-out-of-memory-enomem") {
  Harness h;
  h.run();
  RawClient c(h.transmission_fd());
  h.on_io([&] { h.server.buffer_pool().set_upstream(&no_memory); });
  c.request(cmd_read, 1, 0, 65536);
  CHECK(c.simple_reply().error == err_nomem);  // and no data
  CHECK(c.write(0, pattern(65536, 1), 2) == err_nomem);  // its payload skipped
  h.on_io([&] { h.server.buffer_pool().set_upstream(&BufferPool::from_system); });
  CHECK(c.write(0, pattern(65536, 2), 3) == 0);
  CHECK(c.read(0, 65536) == pattern(65536, 2));
}

TEST_CASE("test-nbd-pool-steady-state-allocates-nothing") {
  Harness h(8 << 20);
  h.run();
  RawClient c(h.transmission_fd());
  auto round = [&](int i) {
    const Bytes data = pattern(MiB, static_cast<unsigned>(i));
    REQUIRE(c.write((i % 8) * std::uint64_t{MiB}, data) == 0);
    REQUIRE(c.read((i % 8) * std::uint64_t{MiB}, MiB) == data);
    c.request(cmd_read, 7, 100, 1000);  // a small class too
    REQUIRE(c.simple_reply().error == 0);
    c.receive(1000);
  };
  round(0);
  auto& pool = h.server.buffer_pool();
  const auto warm = h.on_io([&] { return pool.system_allocations(); });
  for (int i = 1; i < 50; ++i) round(i);
  CHECK(h.on_io([&] { return pool.system_allocations(); }) == warm);
  CHECK(h.on_io([&] { return pool.held_bytes(); }) <= MiB + 4096);
  CHECK(h.eventually([&] { return pool.in_use_bytes() == 0; }));
}

TEST_CASE("test-nbd-server-buffered-bytes-bounded") {
  ExportOptions options;
  options.max_buffered_bytes = 64 * 1024;  // two 32 KiB payloads, at most one per connection
  Harness h(4 << 20, options);
  h.device.delay = 50ms;
  h.run();
  // Each client's writes fit in its socket's buffer: all are sent at once.
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int k = 0; k < 4; ++k) clients.push_back(std::make_unique<RawClient>(h.transmission_fd()));
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 4; ++j)
      clients[k]->request(cmd_write, j, (k * 4 + j) * 32768u, 32768, pattern(32768, k * 4 + j));
  for (auto& c : clients)
    for (int j = 0; j < 4; ++j) CHECK(c->simple_reply().error == 0);
  CHECK(h.on_io([&] { return h.device.max_in_flight; }) <= 2);
  CHECK(h.on_io([&] { return h.server.buffer_pool().held_bytes(); }) <= options.max_buffered_bytes);
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 4; ++j) CHECK(clients[0]->read((k * 4 + j) * 32768u, 32768) == pattern(32768, k * 4 + j));
  clients[1]->request(cmd_read, 99, 0, 128 * 1024);  // can never fit
  CHECK(clients[1]->simple_reply().error == err_nomem);
}

TEST_CASE("test-nbd-server-pool-shrinks-when-idle") {
  ExportOptions options;
  options.buffer_shrink_period = 20ms;
  Harness h(8 << 20, options);
  h.run();
  auto& pool = h.server.buffer_pool();
  RawClient c(h.transmission_fd());
  CHECK(c.read(0, 4 * MiB) == Bytes(4 * MiB));
  CHECK(h.on_io([&] { return pool.system_allocations(); }) > 0);  // it grew (and may be back already)
  // The connection stays open but idle: the burst's buffer goes back.
  CHECK(h.eventually([&] { return pool.held_bytes() == 0; }));
  CHECK(c.read(0, 4096) == Bytes(4096));  // and the pool grows again on demand
}

TEST_CASE("test-nbd-server-pool-emptied-when-last-connection-closes") {
  Harness h(8 << 20);  // the default period: far longer than this test waits
  h.run();
  auto& pool = h.server.buffer_pool();
  {
    RawClient c(h.transmission_fd());
    CHECK(c.read(0, 4 * MiB) == Bytes(4 * MiB));
  }
  CHECK(h.eventually([&] { return h.server.connection_count() == 0 && pool.held_bytes() == 0; }));
}

TEST_CASE("test-nbd-server-preallocated-pool-kept") {
  ExportOptions options;
  options.buffer_shrink_period = 20ms;
  options.preallocate_up_to = MiB;
  Harness h(8 << 20, options);
  h.run();
  auto& pool = h.server.buffer_pool();
  const auto preallocated = h.on_io([&] { return pool.held_bytes(); });
  REQUIRE(preallocated > 0);
  {
    RawClient c(h.transmission_fd());
    CHECK(c.read(0, 4096) == Bytes(4096));
    std::this_thread::sleep_for(100ms);  // five shrink periods, were it shrinking
  }
  CHECK(h.eventually([&] { return h.server.connection_count() == 0; }));
  CHECK(h.on_io([&] { return pool.held_bytes(); }) >= preallocated);
}
