// identify.cpp: the IDENTIFY DEVICE fields an initiator needs (docs/aoe-protocol.md §3.6).
#include "initiator/identify.h"

#include "initiator/errors.h"
#include "initiator/wire.h"

#include <algorithm>
#include <utility>

namespace aoe {
namespace {

using Block = std::span<const std::byte>;

// IDENTIFY words are little-endian (docs/aoe-protocol.md §1).
std::uint16_t word(Block b, std::size_t i) noexcept {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[2 * i]) |
                                    std::to_integer<unsigned>(b[2 * i + 1]) << 8);
}

bool bit(std::uint16_t w, unsigned n) noexcept { return (w >> n & 1u) != 0; }

// Each word holds two characters, the first in the high byte (docs/aoe-protocol.md §3.6).
std::string ata_string(Block b, std::size_t first_word, std::size_t words) {
  std::string s;
  for (std::size_t i = first_word; i < first_word + words; ++i) {
    const std::uint16_t w = word(b, i);
    s += static_cast<char>(w >> 8);
    s += static_cast<char>(w & 0xFF);
  }
  // Padded with spaces (or NULs) on either side: serials are often right-justified.
  const std::string_view pad(" \0", 2);
  s.erase(s.find_last_not_of(pad) + 1);
  s.erase(0, std::min(s.size(), s.find_first_not_of(pad)));
  return s;
}

}  // namespace

std::error_code parse_identify(Block block, Identity& out) {
  if (block.size() < identify_size) return errc::bad_identify;
  if (bit(word(block, 0), 15)) return errc::bad_identify;  // an ATAPI or other non-ATA device

  // Words 82-84 hold valid feature bits only when word 83 reads 01 in bits
  // 15..14; an old drive leaves them 0x0000 or 0xFFFF.
  const std::uint16_t w83 = word(block, 83);
  const bool features_valid = (w83 & 0xC000) == 0x4000;

  Identity id;
  // Linux's capacity rule (docs/aoe-protocol.md §3.6): LBA48 if supported or enabled.
  id.lba48 = features_valid && bit(w83 | word(block, 86), 10);
  if (id.lba48) {
    for (std::size_t i = 0; i < 4; ++i) id.sectors |= std::uint64_t{word(block, 100 + i)} << (16 * i);
  } else {
    id.sectors = std::uint64_t{word(block, 61)} << 16 | word(block, 60);
  }
  // Beyond the mode's reach, the top LBAs would wrap onto low ones on the
  // wire (and 64 bits of sectors overflow a byte count): serve what is
  // addressable.
  if (id.sectors > wire::max_sectors(id.lba48)) {
    id.claimed_sectors = id.sectors;
    id.sectors = wire::max_sectors(id.lba48);
  }
  id.serial = ata_string(block, 10, 10);
  id.firmware = ata_string(block, 23, 4);
  id.model = ata_string(block, 27, 20);
  id.write_cache_supported = features_valid && bit(word(block, 82), 5);
  id.write_cache_enabled = id.write_cache_supported && bit(word(block, 85), 5);
  id.flush_supported = features_valid && bit(w83, 12);
  id.flush_ext_supported = features_valid && bit(w83, 13);
  // Word 106 is valid when bits 15..14 read 01; bit 13: several logical
  // sectors per physical one, 2^(bits 3..0).  Past 4 KiB (a page, which
  // block layers take as the largest useful alignment) it is clamped.
  const std::uint16_t w106 = word(block, 106);
  if ((w106 & 0xC000) == 0x4000 && bit(w106, 13))
    id.physical_sector_shift = static_cast<std::uint8_t>(9 + std::min(w106 & 0xFu, 3u));
  out = std::move(id);
  return {};
}

}  // namespace aoe
