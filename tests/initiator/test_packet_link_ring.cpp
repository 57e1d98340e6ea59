// The receive ring's walker (initiator/rx_ring.h) on an ordinary buffer laid
// out as the kernel lays out a TPACKET_V2 ring: slots handed over are read
// in order and given back, across blocks and the end of the ring; frames of several
// targets in one wake-up all reach the receiver, in order; our own and
// other hosts' frames, and frames cut short, never do.  The ring's shape
// (ring_layout): never fewer slots than asked, never more memory than
// needed.  The ring under a real socket: tests/initiator/test_packet_link.cpp.
#include "initiator/rx_ring.h"

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <bit>
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "initiator/tag.h"
#include "initiator/wire.h"

using namespace aoe;

namespace {

// Slots of 1648 bytes (MTU 1500), two to a 4 KiB block and 800 bytes of
// each block unused, as ring_layout() lays them out for the kernel.
constexpr RingLayout layout_for(std::size_t slots) { return ring_layout(1642, slots, 4096); }
constexpr std::size_t mac_offset = 80;  // where the kernel puts the frame (TPACKET_ALIGN'ed)
constexpr std::size_t slot_bytes = layout_for(1).frame_size;
constexpr std::size_t max_frame = slot_bytes - mac_offset;
static_assert(slot_bytes == 1648 && layout_for(1).block_size == 4096 && layout_for(1).frames_per_block == 2);

// A ring of `slots` slots (an even number), all the kernel's, filled by
// hand as the kernel would.
struct Ring {
  explicit Ring(std::size_t slots)
      : memory(layout_for(slots).bytes()), ring(memory, layout_for(slots), max_frame) {
    REQUIRE(ring.frame_count() == slots);
  }

  std::byte* slot_at(std::size_t slot) { return memory.data() + ring.layout().offset(slot); }
  tpacket2_hdr& header(std::size_t slot) { return *reinterpret_cast<tpacket2_hdr*>(slot_at(slot)); }

  // The kernel puts `frame` into `slot` and hands it over.
  void put(std::size_t slot, const std::vector<std::byte>& frame, unsigned char pkttype = PACKET_HOST,
           std::size_t real_length = 0) {
    tpacket2_hdr& h = header(slot);
    REQUIRE(h.tp_status == TP_STATUS_KERNEL);  // the walker gave it back
    sockaddr_ll from{};
    from.sll_family = AF_PACKET;
    from.sll_pkttype = pkttype;
    std::memcpy(slot_at(slot) + rx_slot_address_offset, &from, sizeof from);
    std::memcpy(slot_at(slot) + mac_offset, frame.data(), frame.size());
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
  r.put(3, reply(65000, 200, 13, 2));
  const auto got = r.walk();
  REQUIRE(got.size() == 4);  // the receiver routes each to its engine
  CHECK(header_of(got[0]).shelf == 1);
  CHECK(header_of(got[1]).shelf == 7);
  CHECK(header_of(got[1]).slot == 3);
  CHECK(header_of(got[2]).tag == tag::engine(1, 12));
  CHECK(header_of(got[3]).shelf == 65000);
  CHECK(got[0] == reply(1, 1, 10, 2));  // byte for byte, data included
  CHECK(got[3] == reply(65000, 200, 13, 2));
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
  r.header(2).tp_snaplen = std::uint32_t{slot_bytes};
  r.header(2).tp_len = std::uint32_t{slot_bytes};
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

// A frame is read where the kernel put it: its slot must stay ours (not
// TP_STATUS_KERNEL, which lets the kernel write the next frame over it)
// until the receiver returned.  The kernel's other status bits (a VLAN tag
// taken off, frames lost for want of slots) do not hide a frame.
TEST_CASE("test-rx-ring-slot-kept-until-the-receiver-returns", "[ring]") {
  Ring r(2);
  r.put(0, reply(1, 1, 0));
  r.put(1, reply(1, 1, 1));
  r.header(1).tp_status = TP_STATUS_USER | TP_STATUS_LOSING | TP_STATUS_VLAN_VALID;
  std::vector<std::uint32_t> status_during;
  std::vector<std::uint32_t> tags;
  r.ring.walk(8, [&](std::span<const std::byte> f) {
    status_during.push_back(r.header(tags.size()).tp_status);
    wire::Header h;
    REQUIRE_FALSE(wire::decode_header(f, h));
    tags.push_back(h.tag);
  });
  CHECK(tags == std::vector<std::uint32_t>{tag::engine(1, 0), tag::engine(1, 1)});
  CHECK(status_during == std::vector<std::uint32_t>{TP_STATUS_USER,
                                                    TP_STATUS_USER | TP_STATUS_LOSING | TP_STATUS_VLAN_VALID});
  CHECK(r.header(0).tp_status == TP_STATUS_KERNEL);
  CHECK(r.header(1).tp_status == TP_STATUS_KERNEL);
}

TEST_CASE("test-rx-ring-layout-fits-the-window", "[ring]") {
  // vblade's window of 16, twice over, at MTU 1500 and 9000 (slots of the
  // MTU plus 142 bytes, as PacketLink asks), with 4 KiB pages.
  constexpr RingLayout small = ring_layout(1642, 32, 4096);
  CHECK(small.frame_size == 1648);
  CHECK(small.frames() == 32);
  CHECK(small.bytes() == 64 << 10);
  constexpr RingLayout jumbo = ring_layout(9142, 32, 4096);
  CHECK(jumbo.frame_size == 9152);
  CHECK(jumbo.block_size == 64 << 10);  // 7 slots in 98 % of it; 16 KiB blocks would hold one
  CHECK(jumbo.frames() == 35);
  CHECK(jumbo.bytes() == 320 << 10);
  // 64 KiB pages (arm64): one page holds 39 small slots.
  constexpr RingLayout big_pages = ring_layout(1642, 32, 64 << 10);
  CHECK(big_pages.block_size == 64 << 10);
  CHECK(big_pages.frames() == 39);
  // A slot larger than the largest block gets a block of its own.
  constexpr RingLayout huge = ring_layout(70000, 3, 4096);
  CHECK(huge.block_size == 128 << 10);
  CHECK(huge.frames() == 3);
  CHECK(ring_layout(1642, 0, 4096).frames() >= 1);
}

TEST_CASE("test-rx-ring-layout-never-short-never-larger-than-needed", "[ring]") {
  // Every MTU a link may have and every window: at least the slots asked
  // for, each holding the slot asked for, as the kernel requires them
  // (aligned slots, blocks of a power of two pages, whole slots to a
  // block), and never more memory than power-of-two slots would take
  // (which the ring used before): ring_layout picks the least.
  for (std::size_t slot = 142 + 68; slot <= 142 + 9216; slot += 97) {
    for (std::size_t frames = 1; frames <= 300; frames += 7) {
      const RingLayout l = ring_layout(slot, frames, 4096);
      INFO("slot " << slot << ", frames " << frames);
      REQUIRE(l.frames() >= frames);
      REQUIRE(l.frame_size >= slot);
      REQUIRE(l.frame_size % TPACKET_ALIGNMENT == 0);
      REQUIRE(std::has_single_bit(l.block_size));
      REQUIRE(l.block_size >= 4096);
      REQUIRE(l.frames_per_block * l.frame_size <= l.block_size);
      REQUIRE(l.frames_per_block >= 1);
      const std::size_t pow2 = std::bit_ceil(slot);
      const std::size_t pow2_bytes = std::max<std::size_t>(pow2 * frames, 4096);
      REQUIRE(l.bytes() <= ((pow2_bytes + 4095) & ~std::size_t{4095}));
      // A slot's last byte stays within the ring.
      REQUIRE(l.offset(l.frames() - 1) + l.frame_size <= l.bytes());
    }
  }
}
