// abft.h: the AoE Boot Firmware Table, the ACPI table a network boot
// firmware (iPXE's `sanboot aoe:eS.L`) leaves behind to say which target it
// booted from and over which NIC.  Read by the initramfs when the kernel
// command line names no aoeroot= (aoe-discover --abft).  Pure: bytes in,
// the table's fields or the reason it is not one out.
//
// Layout (little-endian, packed, 46 bytes):
//   0  the ACPI table header (36 bytes): signature "aBFT", length (u32),
//      revision, checksum (every byte of the table sums to 0 mod 256),
//      OEM and creator fields
//  36  shelf (u16)
//  38  slot (u8)
//  39  reserved
//  40  the initiator's MAC address (6 bytes): the NIC the firmware booted on
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "initiator/wire.h"

namespace aoe::discovery {

// The table as the firmware publishes it (/sys/firmware/acpi/tables/aBFT).
constexpr const char* abft_sysfs_path = "/sys/firmware/acpi/tables/aBFT";
constexpr std::size_t abft_size = 46;

struct BootTarget {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  wire::Mac initiator_mac{};
};

struct AbftResult {
  std::optional<BootTarget> target;
  std::string error;  // why the bytes are no aBFT, when target is empty
};

AbftResult parse_abft(std::span<const std::byte> table);

}  // namespace aoe::discovery
