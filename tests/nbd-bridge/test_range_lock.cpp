// RangeLock (nbd-bridge/range_lock.h): overlapping writes exclude each
// other and readers, readers share, non-overlapping ranges never wait, and
// nobody overtakes an earlier overlapping request.
#include "nbd-bridge/range_lock.h"

#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

using aoe::nbd::RangeLock;
namespace asio = boost::asio;

namespace {

constexpr bool reading = false, writing = true;

// One request: holds its range once granted, until release().
struct Holder {
  std::optional<RangeLock::Guard> guard;
  bool granted() const { return guard.has_value(); }
  void release() { guard.reset(); }
};

asio::awaitable<void> acquire(RangeLock* lock, Holder* h, std::uint64_t begin, std::uint64_t end, bool write) {
  h->guard.emplace(co_await lock->acquire(begin, end, write));
}

struct Lab {
  asio::io_context io;
  RangeLock lock;
  // Requests `holder` for [begin, end) and runs what is ready.
  void request(Holder& holder, std::uint64_t begin, std::uint64_t end, bool write) {
    asio::co_spawn(io, acquire(&lock, &holder, begin, end, write), asio::detached);
    settle();
  }
  void release(Holder& holder) {
    holder.release();
    settle();
  }
  void settle() {
    io.restart();
    io.poll();
  }
};

}  // namespace

TEST_CASE("test-range-lock-disjoint-ranges-never-wait", "[range-lock]") {
  Lab lab;
  Holder a, b, c;
  lab.request(a, 0, 4096, writing);
  lab.request(b, 4096, 8192, writing);  // adjacent: [begin, end) do not overlap
  lab.request(c, 100'000, 100'512, reading);
  CHECK(a.granted());
  CHECK(b.granted());
  CHECK(c.granted());
  CHECK(lab.lock.size() == 3);
  lab.release(a);
  lab.release(b);
  lab.release(c);
  CHECK(lab.lock.size() == 0);
}

TEST_CASE("test-range-lock-readers-share", "[range-lock]") {
  Lab lab;
  Holder a, b;
  lab.request(a, 0, 4096, reading);
  lab.request(b, 512, 1024, reading);
  CHECK(a.granted());
  CHECK(b.granted());
}

TEST_CASE("test-range-lock-writer-excludes-overlapping-requests", "[range-lock]") {
  Lab lab;
  Holder w, r, w2;
  lab.request(w, 0, 4096, writing);
  lab.request(r, 4095, 8192, reading);   // overlaps by one byte
  lab.request(w2, 512, 1024, writing);
  CHECK(w.granted());
  CHECK_FALSE(r.granted());
  CHECK_FALSE(w2.granted());
  // The writer done, both run: they do not overlap each other.
  lab.release(w);
  CHECK(r.granted());
  CHECK(w2.granted());
}

TEST_CASE("test-range-lock-overlapping-writes-in-arrival-order", "[range-lock]") {
  Lab lab;
  Holder first, second, third;
  lab.request(first, 0, 1024, writing);
  lab.request(second, 512, 1536, writing);
  lab.request(third, 1024, 2048, writing);  // overlaps the second only
  CHECK(first.granted());
  CHECK_FALSE(second.granted());
  CHECK_FALSE(third.granted());  // behind the waiting second, though free of the first
  lab.release(first);
  CHECK(second.granted());
  CHECK_FALSE(third.granted());
  lab.release(second);
  CHECK(third.granted());
}

TEST_CASE("test-range-lock-reader-never-overtakes-waiting-writer", "[range-lock]") {
  Lab lab;
  Holder r1, w, r2;
  lab.request(r1, 0, 4096, reading);
  lab.request(w, 0, 4096, writing);
  lab.request(r2, 0, 4096, reading);  // compatible with r1, but w came first
  CHECK(r1.granted());
  CHECK_FALSE(w.granted());
  CHECK_FALSE(r2.granted());
  lab.release(r1);
  CHECK(w.granted());
  CHECK_FALSE(r2.granted());
  lab.release(w);
  CHECK(r2.granted());
}

TEST_CASE("test-range-lock-waiter-destroyed-with-io-context-leaves-no-entry", "[range-lock]") {
  RangeLock lock;
  Holder held, waiting;
  {
    asio::io_context io;
    asio::co_spawn(io, acquire(&lock, &held, 0, 512, writing), asio::detached);
    asio::co_spawn(io, acquire(&lock, &waiting, 0, 512, writing), asio::detached);
    io.poll();
    REQUIRE(held.granted());
    REQUIRE_FALSE(waiting.granted());
    CHECK(lock.size() == 2);
  }  // the suspended waiter's coroutine is destroyed here
  CHECK_FALSE(waiting.granted());
  CHECK(lock.size() == 1);
  held.release();
  CHECK(lock.size() == 0);
}
