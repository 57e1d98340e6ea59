// The receive ring's walker (initiator/rx_ring.h) on an ordinary buffer laid
// out as the kernel lays out a TPACKET_V2 ring: slots handed over are read
// in order and given back, across the end of the ring; frames of several
// targets in one wake-up all reach the receiver, in order; our own and
// other hosts' frames, and frames cut short, never do.  The real ring under
// a real socket is not wired in yet.
#include "initiator/rx_ring.h"

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "initiator/tag.h"
#include "initiator/wire.h"

using namespace aoe;

namespace {

constexpr std::size_t slot_bytes = 2048;
constexpr std::size_t mac_offset = 80;  // where the kernel puts the frame (TPACKET_ALIGN'ed)
constexpr std::size_t max_frame = slot_bytes - mac_offset;

// A ring of `slots` slots, all the kernel's, filled by hand as the kernel would.
struct Ring {
  explicit Ring(std::size_t slots) : memory(slots * slot_bytes), ring(memory, slot_bytes, max_frame) {}

  tpacket2_hdr& header(std::size_t slot) { return *reinterpret_cast<tpacket2_hdr*>(memory.data() + slot * slot_bytes); }

  // The kernel puts `frame` into `slot` and hands it over.
  void put(std::size_t slot, const std::vector<std::byte>& frame, unsigned char pkttype = PACKET_HOST,
           std::size_t real_length = 0) {
    tpacket2_hdr& h = header(slot);
    REQUIRE(h.tp_status == TP_STATUS_KERNEL);  // the walker gave it back
    sockaddr_ll from{};
    from.sll_family = AF_PACKET;
    from.sll_pkttype = pkttype;
    std::memcpy(memory.data() + slot * slot_bytes + rx_slot_address_offset, &from, sizeof from);
    std::memcpy(memory.data() + slot * slot_bytes + mac_offset, frame.data(), frame.size());
    h.tp_mac = mac_offset;
    h.tp_snaplen = static_cast<std::uint32_t>(frame.size());
    h.tp_len = static_cast<std::uint32_t>(real_length ? real_length : frame.size());
    h.tp_status = TP_STATUS_USER;
  }

  // Walks up to `limit` slots; what reached the receiver.
  std::vector<std::vector<std::byte>> walk(std::size_t limit = 64, std::size_t* walked = nullptr) {
    std::vector<std::vector<std::byte>> got;
    const std::size_t n = ring.walk(limit, [&](std::span<const std::byte> f) { got.emplace_back(f.begin(), f.end()); });
    if (walked) *walked = n;
    return got;
  }

  std::vector<std::byte> memory;
  RxRing ring;
};

// A reply from target shelf.slot with tag `n`, `sectors` of data.
std::vector<std::byte> reply(std::uint16_t shelf, std::uint8_t slot, std::uint32_t n, std::uint8_t sectors = 1) {
  wire::Header h;
  h.dst = {0x02, 0, 0, 0, 0, 0x01};
  h.src = {0x02, 0, 0, 0, 0, 0x10};
  h.response = true;
  h.shelf = shelf;
  h.slot = slot;
  h.tag = tag::engine(1, n);
  std::vector<std::byte> data(sectors * wire::sector_size, std::byte{0x5a});
  wire::AtaArg arg = wire::ata_read(0, sectors, true);
  arg.data = data;
  std::vector<std::byte> out(wire::ata_header_size + data.size() + wire::min_frame_size);
  out.resize(wire::encode(h, arg, out));
  REQUIRE(!out.empty());
  return out;
}

wire::Header header_of(const std::vector<std::byte>& frame) {
  wire::Header h;
  REQUIRE_FALSE(wire::decode_header(frame, h));
  return h;
}

}  // namespace

TEST_CASE("test-rx-ring-in-order-across-the-end", "[ring]") {
  Ring r(4);
  for (std::uint32_t i = 0; i < 3; ++i) r.put(i, reply(1, 1, i));
  auto got = r.walk();
  REQUIRE(got.size() == 3);
  for (std::uint32_t i = 0; i < 3; ++i) CHECK(header_of(got[i]).tag == tag::engine(1, i));
  CHECK(r.ring.next_slot() == 3);
  for (std::size_t s = 0; s < 4; ++s) CHECK(r.header(s).tp_status == TP_STATUS_KERNEL);  // all given back

  // The kernel goes on at slot 3, then wraps to 0 and 1.
  r.put(3, reply(1, 1, 3));
  r.put(0, reply(1, 1, 4));
  r.put(1, reply(1, 1, 5));
  got = r.walk();
  REQUIRE(got.size() == 3);
  CHECK(header_of(got[0]).tag == tag::engine(1, 3));
  CHECK(header_of(got[1]).tag == tag::engine(1, 4));
  CHECK(header_of(got[2]).tag == tag::engine(1, 5));
  CHECK(r.ring.next_slot() == 2);
  CHECK(r.walk().empty());  // slot 2 is still the kernel's: nothing to read
}

TEST_CASE("test-rx-ring-one-wakeup-several-targets", "[ring]") {
  Ring r(8);
  r.put(0, reply(1, 1, 10, 2));
  r.put(1, reply(7, 3, 11));
  r.put(2, reply(1, 1, 12));
  r.put(3, reply(65000, 200, 13, 3));
  const auto got = r.walk();
  REQUIRE(got.size() == 4);  // the receiver routes each to its engine
  CHECK(header_of(got[0]).shelf == 1);
  CHECK(header_of(got[1]).shelf == 7);
  CHECK(header_of(got[1]).slot == 3);
  CHECK(header_of(got[2]).tag == tag::engine(1, 12));
  CHECK(header_of(got[3]).shelf == 65000);
  CHECK(got[0] == reply(1, 1, 10, 2));  // byte for byte, data included
  CHECK(got[3] == reply(65000, 200, 13, 3));
}

TEST_CASE("test-rx-ring-own-and-other-hosts-frames-skipped", "[ring]") {
  // What the filter lets through while the NIC's MAC changes is marked
  // PACKET_OTHERHOST; our own transmissions PACKET_OUTGOING (kernels before
  // 4.20).  Both are given back unread, like the recvmmsg path drops them.
  Ring r(4);
  r.put(0, reply(1, 1, 20), PACKET_OTHERHOST);
  r.put(1, reply(1, 1, 21), PACKET_OUTGOING);
  r.put(2, reply(1, 1, 22), PACKET_BROADCAST);
  const auto got = r.walk();
  REQUIRE(got.size() == 1);
  CHECK(header_of(got[0]).tag == tag::engine(1, 22));
  CHECK(r.ring.counters().skipped == 2);
  CHECK(r.header(0).tp_status == TP_STATUS_KERNEL);
  CHECK(r.header(1).tp_status == TP_STATUS_KERNEL);
}

TEST_CASE("test-rx-ring-truncated-frames-dropped", "[ring]") {
  Ring r(4);
  auto whole = reply(1, 1, 30, 2);
  auto cut = whole;
  cut.resize(100);
  r.put(0, cut, PACKET_HOST, whole.size());  // tp_snaplen < tp_len: the slot was too small
  r.put(1, reply(1, 1, 31));
  auto got = r.walk();
  REQUIRE(got.size() == 1);
  CHECK(header_of(got[0]).tag == tag::engine(1, 31));
  CHECK(r.ring.counters().truncated == 1);

  // A header that claims more than its slot holds is not believed either.
  r.put(2, reply(1, 1, 32));
  r.header(2).tp_snaplen = slot_bytes;
  r.header(2).tp_len = slot_bytes;
  r.put(3, reply(1, 1, 33));
  got = r.walk();
  REQUIRE(got.size() == 1);
  CHECK(header_of(got[0]).tag == tag::engine(1, 33));
  CHECK(r.ring.counters().truncated == 2);
}

TEST_CASE("test-rx-ring-walk-limit", "[ring]") {
  Ring r(8);
  for (std::uint32_t i = 0; i < 6; ++i) r.put(i, reply(1, 1, 40 + i));
  std::size_t walked = 0;
  auto got = r.walk(4, &walked);
  CHECK(walked == 4);  // stopped at the limit: the link walks again soon
  CHECK(got.size() == 4);
  got = r.walk(4, &walked);
  CHECK(walked == 2);  // fewer than the limit: the ring is empty
  REQUIRE(got.size() == 2);
  CHECK(header_of(got[1]).tag == tag::engine(1, 45));
}
