// packet_link_ends.h: the two ends of a veth pair a0 <-> a1 as PacketLinks,
// and AoE frames their kernel filters let through, for the PacketLink tests
// (run inside tests/support/netns.h's private namespace).
#pragma once

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "initiator/packet_link.h"

namespace aoe::test {

constexpr wire::Mac mac_a{0x02, 0, 0, 0, 0, 0xa0};
constexpr wire::Mac mac_b{0x02, 0, 0, 0, 0, 0xa1};

inline void sh(const std::string& command) { REQUIRE(std::system(command.c_str()) == 0); }

// a0 <-veth-> a1, both up, with the MACs above.
inline void make_veth(unsigned mtu = 1500) {
  sh("ip link add a0 address 02:00:00:00:00:a0 mtu " + std::to_string(mtu) +
     " type veth peer name a1 address 02:00:00:00:00:a1 mtu " + std::to_string(mtu));
  sh("ip link set a0 up && ip link set a1 up");
  // The kernel activates a device's queue when it reports it up (linkwatch,
  // asynchronous): a frame sent before that is dropped without an error.
  sh("for i in $(seq 500); do ip link show a0 | grep -q 'state UP' && ip link show a1 | grep -q 'state UP' && exit 0;"
     " sleep 0.01; done; exit 1");
}

using Frame = std::vector<std::byte>;

// A frame from `src` to `dst` of `size` bytes that the link's kernel filter
// lets through (initiator/frame_filter.h): an AoE version 1 response with a
// userland tag whose low byte is `seq`, then a fill that tells frames apart.
inline Frame frame(const wire::Mac& dst, const wire::Mac& src, std::size_t size, std::uint8_t seq,
            std::uint16_t type = wire::ethertype) {
  Frame f(size);
  for (std::size_t i = 0; i < 6; ++i) {
    f[i] = std::byte(dst[i]);
    f[6 + i] = std::byte(src[i]);
  }
  f[12] = std::byte(type >> 8);
  f[13] = std::byte(type & 0xff);
  f[14] = std::byte{0x18};  // version 1, R
  f[20] = std::byte{0x80};  // tag bit 31: a userland tag
  f[23] = std::byte(seq);
  for (std::size_t i = 24; i < size; ++i) f[i] = std::byte(seq + i * 7);
  return f;
}

// Options for one of the two ways a PacketLink receives: through its
// mapped ring or with recvmmsg (its fallback).  A test case calls it with
// GENERATE(true, false) and so runs once each way.
inline PacketLinkOptions receiving(bool through_ring) {
  PacketLinkOptions options;
  options.receive_ring = through_ring;
  return options;
}

struct Ends {
  boost::asio::io_context io;
  std::unique_ptr<PacketLink> a, b;
  std::vector<Frame> at_a, at_b;  // what each end received

  explicit Ends(PacketLinkOptions options = {}) {
    std::error_code ec;
    a = PacketLink::open(io, "a0", ec, options);
    REQUIRE_FALSE(ec);
    b = PacketLink::open(io, "a1", ec, options);
    REQUIRE_FALSE(ec);
    REQUIRE(a);
    REQUIRE(b);
    // Here the ring can always be had: a silent fallback would test one path twice.
    CHECK(a->receives_through_ring() == options.receive_ring);
    a->set_receiver([this](std::span<const std::byte> f) { at_a.emplace_back(f.begin(), f.end()); });
    b->set_receiver([this](std::span<const std::byte> f) { at_b.emplace_back(f.begin(), f.end()); });
  }

  // Runs until pred() holds; the bound only keeps a broken link from hanging.
  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds bound = std::chrono::seconds(5)) {
    const auto end = std::chrono::steady_clock::now() + bound;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io.run_for(std::chrono::milliseconds(1));
      io.restart();
    }
    return true;
  }
};

}  // namespace aoe::test
