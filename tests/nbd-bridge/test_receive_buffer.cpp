#include "nbd-bridge/receive_buffer.h"

#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/nbd-bridge/test_bytes.h"

using aoe::nbd::Parse;
using aoe::nbd::ReceiveBuffer;
using aoe::nbd::TransmissionRequest;
using aoe::test::be;
using aoe::test::Bytes;

namespace {

Bytes request(std::uint16_t type, std::uint64_t cookie, std::uint32_t length, std::uint32_t magic = 0x25609513) {
  Bytes b;
  be(b, magic, 4);
  be(b, 0, 2);
  be(b, type, 2);
  be(b, cookie, 8);
  be(b, 4096 * cookie, 8);
  be(b, length, 4);
  return b;
}

Bytes payload(std::size_t n, unsigned seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i * 7 + seed);
  return b;
}

// What a read would have put in the buffer: at most `n` bytes of `stream` from `at`.
std::size_t feed(ReceiveBuffer& rx, const Bytes& stream, std::size_t& at, std::size_t n) {
  auto space = rx.space();
  n = std::min({n, space.size(), stream.size() - at});
  std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(at), n, space.begin());
  rx.filled(n);
  at += n;
  return n;
}

}  // namespace

TEST_CASE("test-nbd-receive-buffer-one-read-many-requests") {
  Bytes stream;
  for (std::uint64_t c = 1; c <= 3; ++c) {
    const Bytes r = request(0, c, 4096);
    stream.insert(stream.end(), r.begin(), r.end());
  }
  ReceiveBuffer rx(1024);
  std::size_t at = 0;
  REQUIRE(feed(rx, stream, at, stream.size()) == stream.size());
  TransmissionRequest r;
  for (std::uint64_t c = 1; c <= 3; ++c) {
    REQUIRE(rx.next_request(r) == Parse::ok);
    CHECK(r.cookie == c);
    CHECK(r.offset == 4096 * c);
  }
  CHECK(rx.next_request(r) == Parse::need_more);
  CHECK(rx.buffered() == 0);
}

TEST_CASE("test-nbd-receive-buffer-header-cut-by-every-read-size") {
  // Two WRITEs with payloads, delivered in reads of every size from 1 to
  // past the whole stream: requests and payloads come out the same each time.
  Bytes stream;
  const Bytes p1 = payload(100, 1), p2 = payload(33, 2);
  for (const auto& [cookie, p] : {std::pair{1u, &p1}, std::pair{2u, &p2}}) {
    const Bytes r = request(1, cookie, static_cast<std::uint32_t>(p->size()));
    stream.insert(stream.end(), r.begin(), r.end());
    stream.insert(stream.end(), p->begin(), p->end());
  }
  for (std::size_t step = 1; step <= stream.size() + 1; ++step) {
    ReceiveBuffer rx(64);  // smaller than the stream: the space is reused
    std::size_t at = 0;
    for (const Bytes* expected : {&p1, &p2}) {
      TransmissionRequest r;
      Parse parsed;
      while ((parsed = rx.next_request(r)) == Parse::need_more) REQUIRE(feed(rx, stream, at, step) > 0);
      REQUIRE(parsed == Parse::ok);
      REQUIRE(r.length == expected->size());
      Bytes got(r.length);
      std::size_t have = rx.take(got);
      while (have < got.size()) {  // the payload ends past this read
        REQUIRE(feed(rx, stream, at, step) > 0);
        have += rx.take(std::span(got).subspan(have));
      }
      CHECK(got == *expected);
    }
    CHECK(at == stream.size());
    CHECK(rx.buffered() == 0);
  }
}

TEST_CASE("test-nbd-receive-buffer-batch-ends-mid-payload") {
  // The payload's start is taken from the buffer and the rest comes from
  // elsewhere (the session reads a large remainder straight into the
  // request's buffer); what follows it parses as the next request.
  const Bytes p = payload(300, 3);
  Bytes stream = request(1, 1, 300);
  stream.insert(stream.end(), p.begin(), p.end());
  const Bytes next = request(0, 2, 512);
  stream.insert(stream.end(), next.begin(), next.end());

  ReceiveBuffer rx(128);
  std::size_t at = 0;
  feed(rx, stream, at, 128);
  TransmissionRequest r;
  REQUIRE(rx.next_request(r) == Parse::ok);
  Bytes got(300);
  const std::size_t have = rx.take(got);
  CHECK(have == 100);
  CHECK(rx.buffered() == 0);
  std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(at), 200, got.begin() + 100);  // "read directly"
  at += 200;
  CHECK(got == p);
  CHECK(rx.next_request(r) == Parse::need_more);
  feed(rx, stream, at, 128);
  REQUIRE(rx.next_request(r) == Parse::ok);
  CHECK(r.cookie == 2);
  CHECK(r.length == 512);
}

TEST_CASE("test-nbd-receive-buffer-skip-and-bad-magic") {
  Bytes stream = request(1, 1, 10);
  const Bytes junk = payload(10, 4);
  stream.insert(stream.end(), junk.begin(), junk.end());
  const Bytes bad = request(0, 2, 0, 0x21e41c71);  // extended-header magic: never negotiated
  stream.insert(stream.end(), bad.begin(), bad.end());
  ReceiveBuffer rx(256);
  std::size_t at = 0;
  feed(rx, stream, at, stream.size());
  TransmissionRequest r;
  REQUIRE(rx.next_request(r) == Parse::ok);
  CHECK(rx.skip(r.length) == 10);
  CHECK(rx.next_request(r) == Parse::bad_magic);
  CHECK(rx.buffered() == bad.size());  // nothing consumed
  CHECK(rx.skip(50) == bad.size());    // only what is buffered
}
