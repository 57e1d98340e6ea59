#include "nbd-bridge/buffer.h"

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include <vector>

#include "tests/nbd-bridge/test_bytes.h"

using aoe::nbd::Buffer;
using aoe::nbd::BufferPool;
using Take = BufferPool::Take;
using aoe::test::MiB;
using aoe::test::no_memory;

namespace {

int client_a, client_b, client_c;  // their addresses stand for connections: take()'s `who`

}  // namespace

TEST_CASE("test-nbd-pool-reuses-buffers") {
  BufferPool pool(16 * MiB);
  for (int i = 0; i < 100; ++i) {
    Buffer a, b;
    REQUIRE(pool.take(MiB, a, &client_a) == Take::ok);
    REQUIRE(pool.take(1000 + i, b, &client_a) == Take::ok);  // 4 KiB class
    CHECK(a.size() == MiB);
    CHECK(b.size() == 1000u + i);
    CHECK(b.capacity() == 4096);
  }
  CHECK(pool.system_allocations() == 2);  // once per class, then reused
  CHECK(pool.held_bytes() == MiB + 4096);
  CHECK(pool.in_use_bytes() == 0);
}

TEST_CASE("test-nbd-pool-budget-bounds-total") {
  BufferPool pool(8 * MiB);
  Buffer a, b, c;
  REQUIRE(pool.take(4 * MiB, a, &client_a) == Take::ok);
  REQUIRE(pool.take(3 * MiB, b, &client_b) == Take::ok);  // costs 4 MiB
  CHECK(pool.take(1, c, &client_c) == Take::over_budget);
  b = Buffer();
  REQUIRE(pool.take(1, c, &client_c) == Take::ok);
  a = Buffer();
  c = Buffer();
  // Free buffers of other classes go back to the system to make room.
  REQUIRE(pool.take(8 * MiB, a, &client_a) == Take::ok);
  CHECK(pool.held_bytes() == 8 * MiB);
  Buffer too_big;
  CHECK(pool.take(16 * MiB, too_big, &client_b) == Take::no_memory);  // can never fit
}

// Above the classes (a client that ignored the advertised 32 MiB): one
// buffer at a time, outside the budget, back to the system on release.
TEST_CASE("test-nbd-pool-buffer-above-classes-bounded") {
  BufferPool pool(48 * MiB);
  Buffer small, big, other;
  REQUIRE(pool.take(32 * MiB, small, &client_a) == Take::ok);
  REQUIRE(pool.take(49 * MiB + 1, big, &client_b) == Take::ok);  // beside a full class buffer
  CHECK(big.size() == 49 * MiB + 1);
  CHECK(big.capacity() == 49 * MiB + 4096);  // whole pages, not the next power of two
  CHECK(pool.own_bytes() == 49 * MiB + 4096);
  CHECK(pool.in_use_bytes() == 32 * MiB);  // the budget is untouched by it
  CHECK(pool.take(33 * MiB, other, &client_c) == Take::over_budget);  // one at a time
  CHECK(pool.take(8 * MiB, other, &client_c) == Take::ok);  // others use the budget meanwhile
  CHECK(pool.take(BufferPool::max_buffer_bytes + 1, other, &client_c) == Take::no_memory);  // never
  big = Buffer();
  CHECK(pool.own_bytes() == 0);
  CHECK(pool.take(BufferPool::max_buffer_bytes, big, &client_c) == Take::ok);
  CHECK(pool.held_bytes() == 40 * MiB);  // never kept on a free list
  big = Buffer();
  CHECK(pool.own_bytes() == 0);
  CHECK(pool.held_bytes() == 40 * MiB);
}

TEST_CASE("test-nbd-pool-buffer-above-classes-first-refused-first") {
  BufferPool pool(48 * MiB);
  Buffer a_big, b_big, c_big;
  REQUIRE(pool.take(40 * MiB, a_big, &client_a) == Take::ok);
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::over_budget);  // b is refused first
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::over_budget);
  a_big = Buffer();
  // a's next large request, even before b wakes up, does not overtake b.
  CHECK(pool.take(40 * MiB, a_big, &client_a) == Take::over_budget);
  REQUIRE(pool.take(40 * MiB, b_big, &client_b) == Take::ok);
  b_big = Buffer();
  // The claim went with b's buffer: whoever asks next gets the next one.
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::ok);
  c_big = Buffer();
  // A claimant that goes away leaves no claim behind.
  REQUIRE(pool.take(40 * MiB, a_big, &client_a) == Take::ok);
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::over_budget);
  pool.withdraw(&client_b);
  a_big = Buffer();
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::ok);
}

TEST_CASE("test-nbd-pool-buffer-above-classes-holder-claims-nothing") {
  BufferPool pool(48 * MiB);
  Buffer a_big, a_next, b_big;
  REQUIRE(pool.take(40 * MiB, a_big, &client_a) == Take::ok);
  CHECK(pool.take(40 * MiB, a_next, &client_a) == Take::over_budget);  // a pipelines another
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::over_budget);   // b is the one owed
  a_big = Buffer();
  CHECK(pool.take(40 * MiB, a_next, &client_a) == Take::over_budget);
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::ok);
}

TEST_CASE("test-nbd-pool-buffer-above-classes-failed-claim-frees-others") {
  BufferPool pool(48 * MiB);
  Buffer a_big, b_big, c_big;
  REQUIRE(pool.take(40 * MiB, a_big, &client_a) == Take::ok);
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::over_budget);  // b claims
  a_big = Buffer();
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::over_budget);  // held back by b's claim
  // b's turn, but the system has no memory: b gets its answer, and the claim
  // does not outlive it.
  pool.set_upstream(&no_memory);
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::no_memory);
  pool.set_upstream(&BufferPool::from_system);
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::ok);
}

TEST_CASE("test-nbd-pool-dropped-claim-wakes-waiters") {
  boost::asio::io_context io;
  boost::asio::steady_timer wake(io, std::chrono::hours(1));
  bool woken = false;
  wake.async_wait([&](const boost::system::error_code& ec) { woken = ec == boost::asio::error::operation_aborted; });
  BufferPool pool(48 * MiB);
  Buffer a_big, b_big, c_big;
  REQUIRE(pool.take(40 * MiB, a_big, &client_a) == Take::ok);
  CHECK(pool.take(40 * MiB, b_big, &client_b) == Take::over_budget);  // b claims
  a_big = Buffer();
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::over_budget);  // c waits behind the claim
  pool.notify_on_release(&wake);
  pool.withdraw(&client_b);  // b's connection goes away: nothing is released, c must still wake
  io.poll();
  CHECK(woken);
  CHECK(pool.take(40 * MiB, c_big, &client_c) == Take::ok);
}

TEST_CASE("test-nbd-pool-first-refused-not-starved") {
  BufferPool pool(48 * MiB);
  Buffer held, more, big, small;
  REQUIRE(pool.take(32 * MiB, held, &client_a) == Take::ok);
  REQUIRE(pool.take(8 * MiB, more, &client_a) == Take::ok);
  CHECK(pool.take(16 * MiB, big, &client_b) == Take::over_budget);  // b waits first
  CHECK(pool.take(MiB, small, &client_c) == Take::over_budget);     // would fit, but b is owed
  held = Buffer();
  REQUIRE(pool.take(16 * MiB, big, &client_b) == Take::ok);
  big = Buffer();
  CHECK(pool.take(MiB, small, &client_c) == Take::ok);  // the claim went with b's buffer
}

TEST_CASE("test-nbd-pool-claim-never-waits-on-a-stuck-client") {
  BufferPool pool(48 * MiB);
  Buffer stuck, big, small;
  // a's client stopped reading: its 32 MiB reply may never be released.
  REQUIRE(pool.take(32 * MiB, stuck, &client_a) == Take::ok);
  // 32 MiB more cannot fit beside it: b waits, but claims nothing...
  CHECK(pool.take(32 * MiB, big, &client_b) == Take::over_budget);
  // ...so everyone else still gets what fits.
  CHECK(pool.take(8 * MiB, small, &client_c) == Take::ok);
  small = Buffer();
  stuck = Buffer();
  CHECK(pool.take(32 * MiB, big, &client_b) == Take::ok);
}

TEST_CASE("test-nbd-pool-out-of-memory-is-an-answer") {
  BufferPool pool(8 * MiB, &no_memory);
  Buffer b;
  CHECK(pool.take(MiB, b, &client_a) == Take::no_memory);
  CHECK(b.data() == nullptr);
  CHECK(pool.in_use_bytes() == 0);
  pool.set_upstream(&BufferPool::from_system);
  CHECK(pool.take(MiB, b, &client_a) == Take::ok);
}

TEST_CASE("test-nbd-pool-release-wakes-waiters") {
  boost::asio::io_context io;
  BufferPool pool(MiB);
  Buffer held, wanted;
  REQUIRE(pool.take(MiB, held, &client_a) == Take::ok);
  REQUIRE(pool.take(MiB, wanted, &client_b) == Take::over_budget);
  boost::asio::steady_timer timer(io, boost::asio::steady_timer::time_point::max());
  bool woken = false;
  timer.async_wait([&](const boost::system::error_code&) { woken = true; });
  pool.notify_on_release(&timer);
  io.poll();
  CHECK_FALSE(woken);
  held = Buffer();
  io.poll();
  CHECK(woken);
  CHECK(pool.take(MiB, wanted, &client_b) == Take::ok);
}

TEST_CASE("test-nbd-pool-shrinks-what-a-burst-grew") {
  BufferPool pool(48 * MiB);
  auto steady = [&] {  // two 4 KiB requests at once, over and over
    for (int i = 0; i < 10; ++i) {
      Buffer a, b;
      REQUIRE(pool.take(4096, a, &client_a) == Take::ok);
      REQUIRE(pool.take(4096, b, &client_a) == Take::ok);
    }
  };
  steady();
  {
    Buffer burst[3];
    for (auto& b : burst) REQUIRE(pool.take(8 * MiB, b, &client_b) == Take::ok);
  }
  CHECK(pool.held_bytes() == 24 * MiB + 8192);
  pool.shrink();  // the burst was in this period: all kept
  CHECK(pool.held_bytes() == 24 * MiB + 8192);
  steady();
  pool.shrink();  // a period without the burst: it goes back, the steady buffers stay
  CHECK(pool.held_bytes() == 8192);
  const auto allocations = pool.system_allocations();
  steady();
  pool.shrink();
  steady();
  CHECK(pool.system_allocations() == allocations);  // a steady load allocates nothing
  CHECK(pool.held_bytes() == 8192);
  pool.shrink();
  pool.shrink();  // idle for a whole period: nothing kept
  CHECK(pool.held_bytes() == 0);
}

TEST_CASE("test-nbd-pool-shrink-keeps-buffers-in-use") {
  BufferPool pool(16 * MiB);
  Buffer held, spare;
  REQUIRE(pool.take(MiB, held, &client_a) == Take::ok);
  REQUIRE(pool.take(MiB, spare, &client_a) == Take::ok);
  spare = Buffer();
  pool.shrink();
  pool.shrink();
  CHECK(pool.held_bytes() == MiB);  // only the free one went back
  CHECK(pool.in_use_bytes() == MiB);
  held = Buffer();
  pool.shrink_all();
  CHECK(pool.held_bytes() == 0);
}

TEST_CASE("test-nbd-pool-preallocated-serves-without-the-system") {
  BufferPool pool(48 * MiB);
  REQUIRE(pool.preallocate(2 * MiB));
  const std::size_t obtained = pool.system_allocations();
  // Every class up to 2 MiB, round after round, until the next would not fit.
  CHECK(pool.held_bytes() <= 48 * MiB);
  CHECK(pool.held_bytes() > 40 * MiB);
  CHECK(pool.in_use_bytes() == 0);
  // A kernel's worth of requests of every size up to 1280 KiB, many at once: no new memory.
  std::vector<Buffer> held(8);
  for (int round = 0; round < 10; ++round)
    for (std::size_t i = 0; i < held.size(); ++i) {
      const std::size_t size = (512u << (i + round) % 12) % (1280 * 1024) + 512;
      Buffer b;
      REQUIRE(pool.take(size, b, &client_a) == Take::ok);
      held[i] = std::move(b);
    }
  CHECK(pool.system_allocations() == obtained);
  // Without memory it says so and keeps what it had.
  BufferPool starved(8 * MiB, &no_memory);
  CHECK_FALSE(starved.preallocate(MiB));
  CHECK(starved.held_bytes() == 0);
}
