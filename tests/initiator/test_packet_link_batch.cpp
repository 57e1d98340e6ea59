// Batches of sends: send_messages (initiator/send_batch.h) against a
// scripted sendmmsg that takes fewer than asked or fails mid-batch, which a
// real socket does only under load; then PacketLink::send_batch between the
// ends of a veth pair (root only, skipped elsewhere).
#include "initiator/send_batch.h"

#include <array>
#include <deque>
#include <initializer_list>
#include <vector>

#include <catch2/catch.hpp>

#include "initiator/packet_link.h"
#include "tests/initiator/packet_link_ends.h"
#include "tests/support/netns.h"
#include "tests/support/skip.h"

using namespace aoe;
using namespace aoe::test;

namespace {

// sendmmsg as a script: each call takes the next answer (a count, capped at
// what was offered, or -errno) and records which messages it was offered.
struct ScriptedSend {
  explicit ScriptedSend(std::initializer_list<int> script) : answers(script) {}
  std::deque<int> answers;
  std::vector<std::pair<std::size_t, unsigned>> calls;  // (first message, count)
  mmsghdr* base = nullptr;

  int operator()(mmsghdr* messages, unsigned count) {
    calls.emplace_back(static_cast<std::size_t>(messages - base), count);
    REQUIRE_FALSE(answers.empty());
    int n = answers.front();
    answers.pop_front();
    return n > 0 ? std::min(n, static_cast<int>(count)) : n;
  }
};

struct Batch {
  std::array<mmsghdr, 8> messages{};
  std::array<bool, 8> sent{};

  std::size_t send(ScriptedSend& script) {
    script.base = messages.data();
    sent.fill(false);
    return send_messages(std::span(messages), std::span(sent), script);
  }
  std::vector<bool> outcome() const { return std::vector<bool>(sent.begin(), sent.end()); }
};

using Calls = std::vector<std::pair<std::size_t, unsigned>>;

}  // namespace

TEST_CASE("test-send-batch-whole-batch-in-one-call", "[packet-link][batch]") {
  Batch b;
  ScriptedSend script{8};
  CHECK(b.send(script) == 8);
  CHECK(script.calls == Calls{{0, 8}});
  CHECK(b.outcome() == std::vector<bool>(8, true));
}

TEST_CASE("test-send-batch-partly-taken-sends-the-rest", "[packet-link][batch]") {
  // sendmmsg returns after 3, then after 4 more: the rest is offered again
  // each time, nothing is sent twice, nothing is lost.
  Batch b;
  ScriptedSend script{3, 4, 1};
  CHECK(b.send(script) == 8);
  CHECK(script.calls == Calls{{0, 8}, {3, 5}, {7, 1}});
  CHECK(b.outcome() == std::vector<bool>(8, true));
}

TEST_CASE("test-send-batch-full-queue-mid-batch-drops-the-rest", "[packet-link][batch]") {
  // 3 went, then the queue is full: the other 5 are dropped at once (the
  // engine's retransmission covers them), without a call per frame.
  const int full = GENERATE(-EAGAIN, -ENOBUFS, -ENETDOWN, 0);
  Batch b;
  ScriptedSend script{3, full};
  CHECK(b.send(script) == 3);
  CHECK(script.calls == Calls{{0, 8}, {3, 5}});
  CHECK(b.outcome() == std::vector<bool>{true, true, true, false, false, false, false, false});
}

TEST_CASE("test-send-batch-oversize-frame-dropped-alone", "[packet-link][batch]") {
  // Frame 2 is longer than the MTU: it alone is dropped, the rest still go.
  Batch b;
  ScriptedSend script{2, -EMSGSIZE, 8};
  CHECK(b.send(script) == 7);
  CHECK(script.calls == Calls{{0, 8}, {2, 6}, {3, 5}});
  CHECK(b.outcome() == std::vector<bool>{true, true, false, true, true, true, true, true});
}

TEST_CASE("test-send-batch-interrupted-call-repeated", "[packet-link][batch]") {
  Batch b;
  ScriptedSend script{-EINTR, 5, -EINTR, 3};
  CHECK(b.send(script) == 8);
  CHECK(script.calls == Calls{{0, 8}, {0, 8}, {5, 3}, {5, 3}});
  CHECK(b.outcome() == std::vector<bool>(8, true));
}

TEST_CASE("test-packet-link-sends-batches-in-order", "[packet-link][batch]") {
  if (auto why = enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  // More frames than one sendmmsg takes, one of them longer than the MTU
  // and one sent as head and body: every other frame arrives, in order; the
  // long one is marked dropped and counted.
  constexpr unsigned count = 2 * PacketLink::send_batch_size + 3;
  constexpr unsigned too_long = 5, split = 7;
  std::vector<Frame> frames, expected;
  for (unsigned i = 0; i < count; ++i) {
    frames.push_back(frame(mac_b, mac_a, i == too_long ? 2000 : 60 + i, static_cast<std::uint8_t>(i)));
    if (i != too_long) expected.push_back(frames.back());
  }
  std::vector<Link::Outgoing> batch;
  for (unsigned i = 0; i < count; ++i) {
    std::span<const std::byte> f = frames[i];
    batch.push_back(i == split ? Link::Outgoing{f.first(36), f.subspan(36)} : Link::Outgoing{f, {}});
  }
  ends.a->send_batch(batch);
  for (unsigned i = 0; i < count; ++i) CHECK(batch[i].sent == (i != too_long));
  CHECK(ends.a->send_drops() == 1);
  const bool arrived = ends.run_until([&] { return ends.at_b.size() >= expected.size(); });
  CHECK(ends.at_b.size() == expected.size());
  REQUIRE(arrived);
  CHECK(ends.at_b == expected);
}
