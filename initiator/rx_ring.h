// rx_ring.h: walking a PACKET_RX_RING (TPACKET_V2) that PacketLink maps:
// the frames the kernel queued, read where the kernel put them (no copy
// into a user buffer, no system call per batch), each slot handed back
// once its frame was handled.
//
// Why V2 and not V3: a TPACKET_V3 ring hands a block of frames to user
// space only when the block is full or its retire timer fires (at least a
// millisecond), which would add up to that to every round trip at queue
// depth 1; V2 marks each frame ready as it lands, and a wake-up still
// takes every frame ready by then (a burst of replies costs one poll).
//
// The same checks as the recvmmsg path (initiator/packet_link.cpp): our own
// transmissions (PACKET_OUTGOING) and frames addressed to another host
// (PACKET_OTHERHOST) are skipped, and a frame cut short (tp_snaplen below
// tp_len: it did not fit a slot) or longer than we accept is dropped and
// counted, never passed on half-read.  The kernel filter
// (initiator/frame_filter.h) runs before a frame is copied into the ring.
//
// The ring's shape (RingLayout, ring_layout()) is chosen here too: slots
// just large enough for the interface's frames, in blocks of a power of
// two pages (the kernel allocates each block as one power-of-two run of
// pages, so a block of any other size would hold memory that is never
// mapped), of the size that wastes least for the slots asked for.
//
// Pure: the ring is any memory laid out as the kernel lays it out, so the
// walker is tested on an ordinary buffer (tests/initiator/test_packet_link_ring.cpp).
#pragma once

#include <linux/if_packet.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace aoe {

// A frame slot begins with its tpacket2_hdr; the sockaddr_ll follows at
// this offset (the kernel's TPACKET_ALIGN).
inline constexpr std::size_t rx_slot_address_offset =
    (sizeof(tpacket2_hdr) + TPACKET_ALIGNMENT - 1) & ~std::size_t{TPACKET_ALIGNMENT - 1};

// A PACKET_RX_RING's geometry, as tpacket_req gives it to the kernel:
// block_count blocks of block_size bytes, each holding frames_per_block
// slots of frame_size bytes from its start (the rest of a block is unused;
// a slot never spans two blocks).
struct RingLayout {
  std::size_t frame_size = 0;
  std::size_t block_size = 0;
  std::size_t frames_per_block = 0;
  std::size_t block_count = 0;

  constexpr std::size_t frames() const noexcept { return frames_per_block * block_count; }
  constexpr std::size_t bytes() const noexcept { return block_size * block_count; }
  // Where slot `i` begins, from the start of the ring.
  constexpr std::size_t offset(std::size_t i) const noexcept {
    return i / frames_per_block * block_size + i % frames_per_block * frame_size;
  }
};

// Blocks are at most this large: an allocation the kernel finds easily
// (order 4 with 4 KiB pages), as large as needed to waste little of a block
// on jumbo slots (7 slots of 9 KiB fill 98 % of it).
inline constexpr std::size_t ring_max_block_bytes = 64 << 10;

// The smallest ring of at least `frames` slots (at least one) of at least
// `slot_bytes` bytes each (rounded up to TPACKET_ALIGNMENT), in blocks of a
// power of two pages of `page_size` bytes up to ring_max_block_bytes (or
// the one block a larger slot needs); among rings of the same size, the one
// with the smallest blocks.
constexpr RingLayout ring_layout(std::size_t slot_bytes, std::size_t frames, std::size_t page_size) noexcept {
  RingLayout best;
  const std::size_t frame = (slot_bytes + TPACKET_ALIGNMENT - 1) & ~std::size_t{TPACKET_ALIGNMENT - 1};
  if (frames == 0) frames = 1;
  std::size_t block = page_size;
  while (block < frame) block *= 2;
  const std::size_t largest = block > ring_max_block_bytes ? block : ring_max_block_bytes;
  for (; block <= largest; block *= 2) {
    RingLayout l{frame, block, block / frame, 0};
    l.block_count = (frames + l.frames_per_block - 1) / l.frames_per_block;
    if (best.block_count == 0 || l.bytes() < best.bytes()) best = l;
  }
  return best;
}

class RxRing {
 public:
  struct Counters {
    std::uint64_t truncated = 0;  // cut short or longer than max_frame: dropped
    std::uint64_t skipped = 0;    // our own or another host's
  };

  RxRing() = default;
  // `memory`: layout.bytes() bytes laid out as `layout` says.  Frames
  // longer than max_frame are dropped.
  RxRing(std::span<std::byte> memory, const RingLayout& layout, std::size_t max_frame) noexcept
      : memory_(memory), layout_(layout),
        count_(memory.size() >= layout.bytes() && layout.frame_size ? layout.frames() : 0), max_frame_(max_frame) {}

  const RingLayout& layout() const noexcept { return layout_; }
  std::size_t frame_count() const noexcept { return count_; }
  std::size_t next_slot() const noexcept { return next_; }
  const Counters& counters() const noexcept { return counters_; }

  // Passes each frame the kernel handed over, in order from the cursor and
  // at most `limit` slots, to `each(std::span<const std::byte>)`, then
  // gives the slot back; the span is valid only during the call.  Returns
  // how many slots were walked: fewer than `limit` means the ring is empty.
  template <typename Each>
  std::size_t walk(std::size_t limit, Each&& each) {
    std::size_t walked = 0;
    for (; walked < limit && count_ > 0; ++walked) {
      std::byte* slot = memory_.data() + layout_.offset(next_);
      auto* header = reinterpret_cast<tpacket2_hdr*>(slot);
      std::atomic_ref<std::uint32_t> status(header->tp_status);
      // Acquire: the frame's bytes, written before the status, are seen.
      if (!(status.load(std::memory_order_acquire) & TP_STATUS_USER)) break;
      if (const auto frame = usable(slot, *header); !frame.empty()) each(std::span<const std::byte>(frame));
      status.store(TP_STATUS_KERNEL, std::memory_order_release);
      next_ = next_ + 1 == count_ ? 0 : next_ + 1;
    }
    return walked;
  }

 private:
  // The frame of a ready slot, or empty if it is to be skipped or dropped.
  std::span<std::byte> usable(std::byte* slot, const tpacket2_hdr& h) noexcept {
    sockaddr_ll from;
    std::memcpy(&from, slot + rx_slot_address_offset, sizeof from);
    if (from.sll_pkttype == PACKET_OUTGOING || from.sll_pkttype == PACKET_OTHERHOST) {
      ++counters_.skipped;
      return {};
    }
    const std::size_t size = layout_.frame_size;
    const bool fits = h.tp_mac >= rx_slot_address_offset + sizeof from && h.tp_mac <= size &&
                      h.tp_snaplen <= size - h.tp_mac;
    if (!fits || h.tp_snaplen < h.tp_len || h.tp_len > max_frame_) {
      ++counters_.truncated;
      return {};
    }
    return {slot + h.tp_mac, h.tp_snaplen};
  }

  std::span<std::byte> memory_;
  RingLayout layout_;
  std::size_t count_ = 0;
  std::size_t max_frame_ = 0;
  std::size_t next_ = 0;  // the slot the kernel fills next, in order
  Counters counters_;
};

}  // namespace aoe
