#include "nbd-bridge/reply_queue.h"

#include <catch2/catch.hpp>

#include <boost/asio/buffer.hpp>

#include <vector>

#include "tests/nbd-bridge/test_bytes.h"

using aoe::nbd::Buffer;
using aoe::nbd::BufferPool;
using aoe::nbd::QueuedReply;
using aoe::nbd::ReplyHead;
using aoe::test::Bytes;

namespace {

using Queue = aoe::nbd::ReplyQueue<8>;
int who;

// A reply whose header and data are `head` and `data` bytes of `fill`.
QueuedReply reply(BufferPool& pool, std::size_t head, std::size_t data, unsigned fill) {
  QueuedReply r;
  r.head.size = head;
  for (std::size_t i = 0; i < head; ++i) r.head.bytes[i] = static_cast<std::byte>(fill);
  if (data > 0) {
    REQUIRE(pool.take(data, r.data, &who) == BufferPool::Take::ok);
    for (auto& b : r.data.span()) b = static_cast<std::byte>(fill + 1);
  }
  r.charged = fill;
  return r;
}

// What a socket that accepts at most `limit` bytes per write receives: the
// gathered pieces, cut after `limit` bytes.
std::size_t write_some(const Queue::Pieces& pieces, std::size_t used, std::size_t limit, Bytes& wire) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < used && n < limit; ++i) {
    const auto* p = static_cast<const std::byte*>(pieces[i].data());
    for (std::size_t j = 0; j < pieces[i].size() && n < limit; ++j, ++n) wire.push_back(p[j]);
  }
  return n;
}

}  // namespace

TEST_CASE("test-nbd-reply-queue-gathers-several-replies") {
  BufferPool pool(1 << 20);
  Queue q;
  q.push(reply(pool, 16, 4096, 1));
  q.push(reply(pool, 16, 0, 3));
  q.push(reply(pool, 28, 512, 5));
  Queue::Pieces pieces;
  CHECK(q.gather(pieces) == 5);  // the empty data of the second is left out
  std::vector<std::size_t> done;
  q.sent(16 + 4096 + 16 + 28 + 512);
  while (q.front_sent()) done.push_back(q.pop().charged);
  CHECK(done == std::vector<std::size_t>{1, 3, 5});
  CHECK(q.empty());
  CHECK(pool.in_use_bytes() == 0);  // released as they left
}

TEST_CASE("test-nbd-reply-queue-short-writes-resume-where-cut") {
  // Every write limit from 1 byte up: the wire carries each reply whole and
  // in order, and a reply leaves the queue only when its last byte is out.
  for (std::size_t limit = 1; limit <= 200; limit += (limit < 40 ? 1 : 37)) {
    BufferPool pool(1 << 20);
    Queue q;
    Bytes expected;
    for (unsigned i = 0; i < 6; ++i) {
      const std::size_t head = i % 2 ? 16 : 28, data = (i * 37) % 90;
      q.push(reply(pool, head, data, 10 * i));
      expected.insert(expected.end(), head, static_cast<std::byte>(10 * i));
      expected.insert(expected.end(), data, static_cast<std::byte>(10 * i + 1));
    }
    Bytes wire;
    std::vector<std::size_t> done_at;  // wire length when each reply left
    while (!q.empty()) {
      Queue::Pieces pieces;
      const std::size_t used = q.gather(pieces);
      REQUIRE(used > 0);
      q.sent(write_some(pieces, used, limit, wire));
      for (; q.front_sent(); q.pop()) done_at.push_back(wire.size());
    }
    CHECK(wire == expected);
    REQUIRE(done_at.size() == 6);
    std::size_t end = 0;
    for (unsigned i = 0; i < 6; ++i) {
      end += (i % 2 ? 16 : 28) + (i * 37) % 90;
      CHECK(done_at[i] >= end);              // never before its last byte
      CHECK(done_at[i] < end + limit);       // and in the write that sent it
    }
  }
}

TEST_CASE("test-nbd-reply-queue-gather-bounded-by-pieces") {
  BufferPool pool(1 << 20);
  aoe::nbd::ReplyQueue<128> q;
  for (unsigned i = 0; i < 100; ++i) q.push(reply(pool, 16, 4096, 1));
  aoe::nbd::ReplyQueue<128>::Pieces pieces;
  CHECK(q.gather(pieces) == q.max_pieces);
  std::size_t left = 0;
  q.sent(32 * (16 + 4096));
  for (; q.front_sent(); q.pop()) ++left;
  CHECK(left == 32);
  CHECK(q.size() == 68);
  while (!q.empty()) q.pop();
}
