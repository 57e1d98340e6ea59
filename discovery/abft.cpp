#include "discovery/abft.h"

#include <cstring>

namespace aoe::discovery {

namespace {

constexpr std::size_t header_size = 36;  // the ACPI System Description Table header

std::uint32_t le32(std::span<const std::byte> b, std::size_t at) {
  return std::to_integer<std::uint32_t>(b[at]) | std::to_integer<std::uint32_t>(b[at + 1]) << 8 |
         std::to_integer<std::uint32_t>(b[at + 2]) << 16 | std::to_integer<std::uint32_t>(b[at + 3]) << 24;
}

AbftResult failure(std::string why) { return {std::nullopt, std::move(why)}; }

}  // namespace

AbftResult parse_abft(std::span<const std::byte> table) {
  if (table.size() < header_size) return failure("shorter than an ACPI table header");
  if (std::memcmp(table.data(), "aBFT", 4) != 0) return failure("signature is not \"aBFT\"");
  const std::uint32_t length = le32(table, 4);
  // The firmware may pad the table; it never cuts it.
  if (length < abft_size) return failure("declares " + std::to_string(length) + " bytes, fewer than an aBFT's 46");
  if (length > table.size())
    return failure("declares " + std::to_string(length) + " bytes, only " + std::to_string(table.size()) +
                   " were read");
  unsigned sum = 0;
  for (std::size_t i = 0; i < length; ++i) sum += std::to_integer<unsigned>(table[i]);
  if (sum % 256 != 0) return failure("checksum does not match (a corrupt table)");
  BootTarget t;
  t.shelf = static_cast<std::uint16_t>(std::to_integer<unsigned>(table[36]) |
                                       std::to_integer<unsigned>(table[37]) << 8);
  t.slot = std::to_integer<std::uint8_t>(table[38]);
  std::memcpy(t.initiator_mac.data(), table.data() + 40, t.initiator_mac.size());
  // Shelf 0xffff and slot 0xff are the protocol's broadcast addresses, never a target.
  if (t.shelf == 0xffff || t.slot == 0xff)
    return failure("names the broadcast address e" + std::to_string(t.shelf) + "." + std::to_string(t.slot) +
                   ", not a target");
  return {t, {}};
}

}  // namespace aoe::discovery
