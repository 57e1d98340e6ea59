// PacketLink (initiator/packet_link.h), the real AF_PACKET link, between the
// two ends of a veth pair in a private network namespace: root only,
// skipped (exit 77) elsewhere.  Each case runs twice: receiving through the
// mapped ring, and with recvmmsg (the fallback when no ring can be had).
#include "initiator/packet_link.h"

#include <net/if.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/initiator/packet_link_ends.h"
#include "tests/support/netns.h"
#include "tests/support/skip.h"

using namespace aoe;
using namespace aoe::test;

TEST_CASE("test-packet-link-open-reads-the-interface", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  boost::asio::io_context io;
  std::error_code ec;
  const bool ring = GENERATE(true, false);
  auto link = PacketLink::open(io, "a0", ec, receiving(ring));
  REQUIRE_FALSE(ec);
  REQUIRE(link);
  CHECK(link->receives_through_ring() == ring);
  CHECK(link->info().name == "a0");
  CHECK(link->info().ifindex == static_cast<int>(::if_nametoindex("a0")));
  CHECK(link->info().mac == mac_a);
  CHECK(link->info().mtu == 1500);

  CHECK_FALSE(PacketLink::open(io, "nosuch0", ec));
  CHECK(ec == errc::interface_not_found);
  CHECK_FALSE(PacketLink::open(io, "a-name-longer-than-ifnamsiz", ec));
  CHECK(ec == errc::interface_not_found);
}

TEST_CASE("test-packet-link-sends-and-receives-aoe-frames-only", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  // A frame of another EtherType, then an AoE frame sent as head and body
  // (how the engine sends write data): only the AoE frame arrives, whole.
  REQUIRE(ends.a->send(frame(mac_b, mac_a, 60, 1, 0x0800)));
  Frame f = frame(mac_b, mac_a, 36 + 1024, 2);
  REQUIRE(ends.a->send(std::span(f).first(36), std::span(f).subspan(36)));
  REQUIRE(ends.run_until([&] { return !ends.at_b.empty(); }));
  CHECK(ends.at_b.front() == f);
  // The answer comes back; a0 never sees its own transmissions.
  Frame reply = frame(mac_a, mac_b, 60, 3);
  REQUIRE(ends.b->send(reply));
  REQUIRE(ends.run_until([&] { return !ends.at_a.empty(); }));
  CHECK(ends.at_a == std::vector<Frame>{reply});
  CHECK(ends.at_b == std::vector<Frame>{f});
  CHECK(ends.a->send_drops() == 0);
}

TEST_CASE("test-packet-link-drains-bursts-in-order", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  // More than three recvmmsg batches at once, and more than a ring walk
  // takes before other work runs, queued before the receiver runs: every
  // frame arrives, in the order sent.
  constexpr unsigned count = std::max(3 * PacketLink::receive_batch, PacketLink::ring_walk_limit) + 5;
  std::vector<Frame> sent;
  for (unsigned i = 0; i < count; ++i) {
    sent.push_back(frame(mac_b, mac_a, 60 + i, static_cast<std::uint8_t>(i)));
    REQUIRE(ends.a->send(sent.back()));
  }
  REQUIRE(ends.run_until([&] { return ends.at_b.size() >= count; }));
  CHECK(ends.at_b == sent);
}

TEST_CASE("test-packet-link-receive-waiting-without-a-wakeup", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  // The io_context never runs: only receive_waiting() hands frames over,
  // in order, and a call with nothing waiting hands over nothing.
  ends.b->receive_waiting();
  CHECK(ends.at_b.empty());
  std::vector<Frame> sent;
  for (std::uint8_t i = 0; i < 5; ++i) {
    sent.push_back(frame(mac_b, mac_a, 60 + i, i));
    REQUIRE(ends.a->send(sent.back()));
  }
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ends.at_b.size() < sent.size() && std::chrono::steady_clock::now() < end) ends.b->receive_waiting();
  CHECK(ends.at_b == sent);
}

TEST_CASE("test-packet-link-receive-drops-counted", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  const bool ring = GENERATE(true, false);
  Ends ends(receiving(ring));
  ends.b->expect_in_flight(8);  // the smallest ring (PacketLink::min_ring_frames)
  ends.run_until([] { return false; }, std::chrono::milliseconds(20));  // the new ring is made
  if (ring) REQUIRE(ends.b->ring_frames() <= 32);
  // A burst nobody reads: the ring holds its slots and the rest is counted
  // (without a ring, the socket buffer holds it all).  Read only once the
  // count has stood still, then drain: every frame that reached the socket
  // is received or counted, none twice.  Frames the kernel dropped before
  // the socket (its backlog is shared by the host) are a1's receive drops
  // in /proc/net/dev, which, unlike /sys, shows this namespace.
  const auto kernel_dropped = [] {
    std::ifstream in("/proc/net/dev");
    for (std::string line; std::getline(in, line);)
      if (auto at = line.find("a1:"); at != std::string::npos) {
        std::istringstream fields(line.substr(at + 3));
        std::uint64_t bytes = 0, packets = 0, errors = 0, dropped = 0;
        fields >> bytes >> packets >> errors >> dropped;
        return dropped;
      }
    FAIL("a1 is not in /proc/net/dev");
    return std::uint64_t{0};
  };
  const std::uint64_t before = kernel_dropped();
  constexpr unsigned count = 600;
  for (unsigned i = 0; i < count; ++i) REQUIRE(ends.a->send(frame(mac_b, mac_a, 1000, static_cast<std::uint8_t>(i))));
  std::uint64_t drops = ends.b->receive_drops();
  for (int still = 0, round = 0; still < 3 && round < 500; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::uint64_t now = ends.b->receive_drops();
    still = now == drops ? still + 1 : 0;
    drops = now;
  }
  const std::uint64_t lost = kernel_dropped() - before;
  REQUIRE(ends.run_until([&] { return ends.at_b.size() + drops + lost >= count; }));
  CHECK(ends.at_b.size() + drops + lost == count);
  if (ring) CHECK(drops >= count - 32 - lost);
  CHECK(ends.b->receive_drops() == drops);  // reading again neither loses nor doubles one
  CHECK(ends.a->receive_drops() == 0);
}

TEST_CASE("test-packet-link-ring-wraps-around", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  // Twice round the ring (624 slots at MTU 1500 before the engine sizes
  // it), in bursts the veth takes whole: every frame arrives, in order,
  // slots reused.
  if (ends.b->receives_through_ring()) CHECK(ends.b->ring_frames() == 624);
  constexpr unsigned burst = 200, count = 2 * 624 + 7;
  std::vector<Frame> sent;
  while (sent.size() < count) {
    const std::size_t until = std::min<std::size_t>(count, sent.size() + burst);
    while (sent.size() < until) {
      sent.push_back(frame(mac_b, mac_a, 60 + sent.size() % 1400, static_cast<std::uint8_t>(sent.size())));
      REQUIRE(ends.a->send(sent.back()));
    }
    REQUIRE(ends.run_until([&] { return ends.at_b.size() >= sent.size(); }));
  }
  CHECK(ends.at_b == sent);
}

TEST_CASE("test-packet-link-ring-sized-to-the-window", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth(GENERATE(1500u, 9000u));
  Ends ends;
  const unsigned mtu = ends.b->info().mtu;
  // A burst of full-size frames, every one delivered in order.
  unsigned seq = 0;
  auto burst = [&](unsigned count) {
    const std::size_t before = ends.at_b.size();
    std::vector<Frame> sent;
    for (unsigned i = 0; i < count; ++i) {
      sent.push_back(frame(mac_b, mac_a, wire::eth_header_size + mtu, static_cast<std::uint8_t>(++seq)));
      REQUIRE(ends.a->send(sent.back()));
    }
    REQUIRE(ends.run_until([&] { return ends.at_b.size() >= before + count; }));
    CHECK(std::vector<Frame>(ends.at_b.begin() + static_cast<long>(before), ends.at_b.end()) == sent);
  };
  // Before the engine says: a whole shelf's answers (1 MiB of 64 KiB blocks).
  CHECK(ends.b->ring_frames() == (mtu == 1500 ? 624u : 112u));
  // vblade's window of 16: twice that (64 KiB at MTU 1500, 320 KiB of
  // 7-slot blocks at 9000), made anew once the handler that asked returned.
  // Asked from inside the receiver, as the engine asks when a Query Config
  // answer brings a new Buffer Count: the ring it walks stays mapped until
  // the walk is over, and the frames after it are received whole.
  bool asked = false;
  ends.b->set_receiver([&](std::span<const std::byte> f) {
    ends.at_b.emplace_back(f.begin(), f.end());
    if (!asked) ends.b->expect_in_flight(16);
    asked = true;
  });
  // What the handler posted runs (as soon after it as the io_context
  // gets to it): frames the old ring holds are handed over first, but
  // those arriving while the new one is set up are lost (resent by the
  // engine), so the bursts below wait for it.
  auto settle = [&] {
    ends.io.poll();
    ends.io.restart();
  };
  burst(20);
  settle();
  CHECK(ends.b->ring_frames() == (mtu == 1500 ? 32u : 35u));
  burst(30);  // a window's worth and more, queued before the receiver runs
  // A window of 1: at least min_ring_frames slots.
  ends.b->expect_in_flight(1);
  settle();
  CHECK(ends.b->ring_frames() == (mtu == 1500 ? PacketLink::min_ring_frames : 18u));  // 6 blocks of 32 KiB
  burst(10);
  // A window larger than ring_bytes holds: no more than ring_bytes.
  ends.b->expect_in_flight(4096);
  settle();
  CHECK(ends.b->ring_frames() == (mtu == 1500 ? 624u : 112u));
  burst(100);
}

TEST_CASE("test-packet-link-qdisc-bypassed-unless-kept", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  // A qdisc on a0 that drops every frame (pfifo, no room, and no
  // short-cut when empty: sch_fifo.c), standing for any tc rule there.
  if (std::system("tc qdisc add dev a0 root pfifo limit 0") != 0) AOE_SKIP("tc cannot add a pfifo qdisc here");
  PacketLinkOptions keep;
  keep.bypass_qdisc = false;
  const bool bypass = GENERATE(true, false);
  Ends ends(bypass ? PacketLinkOptions{} : keep);
  Frame f = frame(mac_b, mac_a, 60, 1);
  if (bypass) {
    // By default the frame passes the qdisc by and arrives.
    REQUIRE(ends.a->send(f));
    REQUIRE(ends.run_until([&] { return !ends.at_b.empty(); }));
    CHECK(ends.at_b == std::vector<Frame>{f});
  } else {
    // Kept: the qdisc has its way, and the drop is counted.
    CHECK_FALSE(ends.a->send(f));
    CHECK(ends.a->send_drops() == 1);
    CHECK_FALSE(ends.run_until([&] { return !ends.at_b.empty(); }, std::chrono::milliseconds(200)));
  }
}

TEST_CASE("test-packet-link-jumbo-frames-and-oversize-drops", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  // More than the MTU carries: refused by the kernel, counted as a drop
  // (loss that the engine's retransmission covers), nothing sent.
  CHECK_FALSE(ends.a->send(frame(mac_b, mac_a, 2000, 1)));
  CHECK(ends.a->send_drops() == 1);
  // The MTU goes up to 9000: reopen() reads it (and gives the ring slots
  // that hold a jumbo frame), and a full jumbo frame (the largest AoE
  // payload, 17 sectors) goes through.
  sh("ip link set a0 mtu 9000 && ip link set a1 mtu 9000");
  REQUIRE_FALSE(ends.a->reopen());
  REQUIRE_FALSE(ends.b->reopen());
  CHECK(ends.a->info().mtu == 9000);
  Frame jumbo = frame(mac_b, mac_a, wire::ata_header_size + 17 * wire::sector_size, 2);
  REQUIRE(ends.a->send(jumbo));
  REQUIRE(ends.run_until([&] { return !ends.at_b.empty(); }));
  CHECK(ends.at_b == std::vector<Frame>{jumbo});
  CHECK(ends.a->send_drops() == 1);
}

TEST_CASE("test-packet-link-down-interface-drops-and-recreated-rebinds", "[packet-link]") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  make_veth();
  Ends ends(receiving(GENERATE(true, false)));
  const int old_index = ends.a->info().ifindex;
  // Down: the send fails at once and is counted, nothing blocks.
  sh("ip link set a0 down");
  CHECK_FALSE(ends.a->send(frame(mac_b, mac_a, 60, 1)));
  CHECK(ends.a->send_drops() == 1);
  // The receiver runs meanwhile, as in service: it takes the socket's
  // ENETDOWN, which would otherwise fail the next send after the rebind.
  ends.io.poll();
  // Gone: reopen() says so.
  sh("ip link del a0");
  CHECK(ends.a->reopen() == errc::interface_not_found);
  // Made again under the same names (a new ifindex): reopen() binds the
  // socket to it, and frames flow again both ways.
  make_veth();
  REQUIRE_FALSE(ends.a->reopen());
  REQUIRE_FALSE(ends.b->reopen());
  CHECK(ends.a->info().ifindex == static_cast<int>(::if_nametoindex("a0")));
  CHECK(ends.a->info().ifindex != old_index);
  Frame f = frame(mac_b, mac_a, 60, 2);
  REQUIRE(ends.a->send(f));
  REQUIRE(ends.run_until([&] { return !ends.at_b.empty(); }));
  CHECK(ends.at_b == std::vector<Frame>{f});
  Frame back = frame(mac_a, mac_b, 60, 3);
  REQUIRE(ends.b->send(back));
  REQUIRE(ends.run_until([&] { return !ends.at_a.empty(); }));
  CHECK(ends.at_a == std::vector<Frame>{back});
}
