// tag.h: how we fill the 32-bit AoE tag, which the target echoes unchanged.
//
//   bit 31      always 1: userland traffic.  A loaded kernel `aoe` module
//               drops replies with this bit set, and we drop those without it
//               (docs/aoe-protocol.md §2.5), so both initiators can share a host.
//   bit 30      0: an engine I/O frame; 1: a control exchange (discovery,
//               IDENTIFY, config string, MAC mask, reserve).
//   engine:     bits 29..20 slot in the engine's frame table (1024 slots),
//               bits 19..0  generation of that slot, bumped on every
//               transmission, so a retransmitted frame gets a new tag and a
//               late answer to any older tag is recognised (docs/aoe-protocol.md §8.4).
//   control:    bits 29..0 a sequence number.
//
// A generation wraps after 2^20 transmissions through one slot: at 100k
// frames/s over 16 slots that is about three minutes, far longer than any
// frame lives on a LAN.
//
// Where the generations and the control sequence start is random (random_bits()
// below, from getrandom), per process: two hosts reading one target, or a
// restarted aoe-attach, do not send the same tags, so another host's answer
// (seen on a flooding segment) or a late answer to an earlier run almost
// never carries a tag we are waiting for; what still does is caught by the
// fields the target echoes (wire::answers) and the source MAC.
#pragma once

#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <span>

namespace aoe::tag {

inline constexpr std::uint32_t userland_bit = 0x8000'0000u;
inline constexpr std::uint32_t control_bit = 0x4000'0000u;
inline constexpr unsigned slot_bits = 10;
inline constexpr unsigned generation_bits = 20;
inline constexpr std::uint32_t slot_count = 1u << slot_bits;
inline constexpr std::uint32_t generation_mask = (1u << generation_bits) - 1;
inline constexpr std::uint32_t control_sequence_mask = control_bit - 1;

constexpr bool is_ours(std::uint32_t tag) noexcept { return (tag & userland_bit) != 0; }
constexpr bool is_engine(std::uint32_t tag) noexcept {
  return (tag & (userland_bit | control_bit)) == userland_bit;
}
constexpr bool is_control(std::uint32_t tag) noexcept {
  return (tag & (userland_bit | control_bit)) == (userland_bit | control_bit);
}

constexpr std::uint32_t engine(std::uint32_t slot, std::uint32_t generation) noexcept {
  return userland_bit | ((slot & (slot_count - 1)) << generation_bits) | (generation & generation_mask);
}
constexpr std::uint32_t slot_of(std::uint32_t tag) noexcept {
  return (tag >> generation_bits) & (slot_count - 1);
}
constexpr std::uint32_t generation_of(std::uint32_t tag) noexcept { return tag & generation_mask; }

constexpr std::uint32_t control(std::uint32_t sequence) noexcept {
  return userland_bit | control_bit | (sequence & control_sequence_mask);
}

// Fills `out` with random bits from the kernel; should getrandom fail (it
// does not block for these few bytes once the pool is initialised), with
// the clock and the pid, still different per process.
inline void random_bits(std::span<std::uint32_t> out) noexcept {
  auto bytes = std::as_writable_bytes(out);
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, GRND_NONBLOCK);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got == bytes.size()) return;
  auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              (static_cast<std::uint64_t>(::getpid()) << 32);
  for (std::uint32_t& v : out) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;  // Knuth's MMIX LCG
    v = static_cast<std::uint32_t>(seed >> 32);
  }
}

}  // namespace aoe::tag
