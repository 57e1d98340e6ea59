// tag.h: how we fill the 32-bit AoE tag, which the target echoes unchanged.
//
//   bit 31      always 1: userland traffic.  A loaded kernel `aoe` module
//               drops replies with this bit set, and we drop those without it
//               (doc §2.5), so both initiators can share a host.
//   bit 30      0: an engine I/O frame; 1: a control exchange (discovery,
//               IDENTIFY, config string, MAC mask, reserve).
//   engine:     bits 29..20 slot in the engine's frame table (1024 slots),
//               bits 19..0  generation of that slot, bumped on every
//               transmission, so a retransmitted frame gets a new tag and a
//               late answer to any older tag is recognised (doc §8.4).
//   control:    bits 29..0 a sequence number.
//
// A generation wraps after 2^20 transmissions through one slot: at 100k
// frames/s over 16 slots that is about three minutes, far longer than any
// frame lives on a LAN.
#pragma once

#include <cstdint>

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

}  // namespace aoe::tag
