// identify.h: what an initiator needs from the 512-byte IDENTIFY DEVICE block
// (docs/aoe-protocol.md §3.6).  Pure: bytes in, an Identity out.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <system_error>

namespace aoe {

struct Identity {
  std::uint64_t sectors = 0;        // capacity in 512-byte sectors
  bool lba48 = false;               // use EXT opcodes and the E flag
  std::string model;                // byte-swapped and trimmed (words 27-46)
  std::string serial;               // words 10-19
  std::string firmware;             // words 23-26
  bool write_cache_supported = false;  // word 82 bit 5
  bool write_cache_enabled = false;    // word 85 bit 5
  bool flush_supported = false;        // word 83 bit 12 (FLUSH CACHE)
  bool flush_ext_supported = false;    // word 83 bit 13 (FLUSH CACHE EXT)
  // log2 of the physical sector size (word 106: 512-byte logical sectors
  // per physical one), 9 to 12: a 512e drive with 4 KiB sectors says 12.
  // The logical sector is always 512 bytes, the unit of AoE's LBAs.
  std::uint8_t physical_sector_shift = 9;
  // Nonzero: the block claimed this many sectors, more than its addressing
  // mode reaches; `sectors` is clamped to wire::max_sectors(lba48).
  std::uint64_t claimed_sectors = 0;

  std::uint64_t size_bytes() const noexcept { return sectors * 512; }
};

inline constexpr std::size_t identify_size = 512;

// Fails with errc::bad_identify if the block is not an ATA device's (word 0
// bit 15 set) or is shorter than 512 bytes.  A capacity beyond what LBA28 or
// LBA48 addresses is clamped (and kept in claimed_sectors for a warning).  Words 82-86 are used only when
// word 83's bits 15..14 read 01, as ATA requires (word 86 bit 15 is reused
// by newer standards, so its own top bits are not checked).
std::error_code parse_identify(std::span<const std::byte> block, Identity& out);

}  // namespace aoe
