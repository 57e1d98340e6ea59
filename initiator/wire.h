// wire.h: the AoE wire format (AoEr11), encoded and decoded as pure functions.
//
// Nothing here touches a socket or allocates: decoders read a byte span and
// fill plain structs whose spans point back into that input; encoders write
// into a caller's buffer.  Every received byte is checked (Asio's http parser
// is the model: bytes in, a result out).  Layouts and the reasons behind the
// checks are in docs/aoe-protocol.md, cited below by section.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace aoe::wire {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;
using Mac = std::array<std::uint8_t, 6>;

inline constexpr std::uint16_t ethertype = 0x88A2;
inline constexpr std::size_t eth_header_size = 14;
inline constexpr std::size_t aoe_header_size = 10;                // docs/aoe-protocol.md §2
inline constexpr std::size_t common_header_size = eth_header_size + aoe_header_size;  // 24
inline constexpr std::size_t ata_header_size = common_header_size + 12;               // 36
inline constexpr std::size_t config_header_size = common_header_size + 8;             // 32
inline constexpr std::size_t mask_header_size = common_header_size + 4;               // 28
inline constexpr std::size_t reserve_header_size = common_header_size + 2;            // 26
inline constexpr std::size_t min_frame_size = 60;                 // Ethernet minimum without FCS (docs/aoe-protocol.md §7)
inline constexpr std::size_t sector_size = 512;
inline constexpr std::size_t max_config_string = 1024;            // docs/aoe-protocol.md §4.1
inline constexpr std::uint16_t broadcast_shelf = 0xFFFF;
inline constexpr std::uint8_t broadcast_slot = 0xFF;
inline constexpr Mac broadcast_mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

enum class Command : std::uint8_t { ata = 0, query_config = 1, mac_mask = 2, reserve = 3 };

// Ethernet addresses and the AoE common header (docs/aoe-protocol.md §2).
struct Header {
  Mac dst{};
  Mac src{};
  bool response = false;        // R flag
  bool error = false;           // E flag
  std::uint8_t error_code = 0;  // valid when error is set (docs/aoe-protocol.md §2.2)
  std::uint16_t shelf = 0;      // Major
  std::uint8_t slot = 0;        // Minor
  Command command = Command::ata;
  std::uint32_t tag = 0;
};

// --- Command 0: Issue ATA Command (docs/aoe-protocol.md §3)
namespace aflags {
inline constexpr std::uint8_t extended = 0x40;  // E: LBA48
inline constexpr std::uint8_t device = 0x10;    // D
inline constexpr std::uint8_t async = 0x02;     // A
inline constexpr std::uint8_t write = 0x01;     // W
inline constexpr std::uint8_t reserved = 0xAC;
}  // namespace aflags

namespace ata {
inline constexpr std::uint8_t read_sectors = 0x20;
inline constexpr std::uint8_t read_sectors_ext = 0x24;
inline constexpr std::uint8_t write_sectors = 0x30;
inline constexpr std::uint8_t write_sectors_ext = 0x34;
inline constexpr std::uint8_t identify_device = 0xEC;
inline constexpr std::uint8_t check_power_mode = 0xE5;
inline constexpr std::uint8_t flush_cache = 0xE7;
inline constexpr std::uint8_t flush_cache_ext = 0xEA;
// Status register bits; (status & failure_mask) == 0 means success (docs/aoe-protocol.md §3.4).
inline constexpr std::uint8_t status_bsy = 0x80, status_drdy = 0x40, status_df = 0x20,
                              status_drq = 0x08, status_err = 0x01;
inline constexpr std::uint8_t failure_mask = 0xA9;
// Error register bits.
inline constexpr std::uint8_t error_icrc = 0x80, error_unc = 0x40, error_idnf = 0x10,
                              error_abrt = 0x04;
}  // namespace ata

struct AtaArg {
  std::uint8_t aflags = 0;
  std::uint8_t err_feature = 0;   // Features (request) / Error register (response)
  std::uint8_t sector_count = 0;
  std::uint8_t cmd_status = 0;    // Command (request) / Status register (response)
  std::uint64_t lba = 0;          // the six lba bytes, lba0 least significant (48 bits)
  Bytes data;                     // everything after the 12-byte Arg (may include padding)
};

// Sectors each LBA layout reaches: every sector below the limit has an LBA
// that fits the command's LBA field (docs/aoe-protocol.md §3.3), and ATA caps
// IDENTIFY's capacity words at these (words 60-61 at 0FFFFFFFh, words 100-103
// at FFFFFFFFFFFFh).  A capacity clamped to them never wraps on the wire.
inline constexpr std::uint64_t lba28_max_sectors = 0x0FFF'FFFF;
inline constexpr std::uint64_t lba48_max_sectors = 0xFFFF'FFFF'FFFF;
constexpr std::uint64_t max_sectors(bool lba48) noexcept { return lba48 ? lba48_max_sectors : lba28_max_sectors; }

// Builders for the ATA commands the initiator sends.  They pick the opcode,
// flags and LBA layout (LBA28 puts 0xE0 | lba[27:24] in lba3, docs/aoe-protocol.md §3.3).
// The LBA must be below max_sectors(lba48): higher bits are cut.
AtaArg ata_read(std::uint64_t lba, std::uint8_t sectors, bool lba48) noexcept;
AtaArg ata_write(std::uint64_t lba, std::uint8_t sectors, bool lba48) noexcept;
AtaArg ata_identify() noexcept;
AtaArg ata_flush(bool ext) noexcept;

// Whether `reply` can answer `request`: every field a target echoes of an
// ATA Arg agrees (AFlags E and W, the LBA, a Sector Count no larger than
// asked; wire.cpp says what vblade returns).  Checked on every ATA answer
// without the E flag, on top of tag, shelf.slot, command and source MAC.
bool answers(const AtaArg& request, const AtaArg& reply) noexcept;

// --- Command 1: Query Config Information (docs/aoe-protocol.md §4)
enum class ConfigCommand : std::uint8_t {
  read = 0, test_exact = 1, test_prefix = 2, set_if_empty = 3, force_set = 4,
};

struct ConfigArg {
  std::uint16_t buffer_count = 0;
  std::uint16_t firmware_version = 0;
  std::uint8_t sector_count = 0;    // raw; 0 means 2 (see max_sectors())
  std::uint8_t aoe_version = 0;     // high nibble of byte 5
  ConfigCommand ccmd = ConfigCommand::read;
  Bytes config_string;

  // Largest ATA transfer the target accepts, in sectors (0 means 2, docs/aoe-protocol.md §4.1).
  unsigned max_sectors() const noexcept { return sector_count == 0 ? 2u : sector_count; }
};

// --- Command 2: MAC Mask List (docs/aoe-protocol.md §5)
enum class MaskCommand : std::uint8_t { read = 0, edit = 1 };
enum class MaskDirective : std::uint8_t { none = 0, add = 1, remove = 2 };
enum class MaskError : std::uint8_t { ok = 0, unspecified = 1, bad_directive = 2, list_full = 3 };

struct MaskEntry {
  MaskDirective directive = MaskDirective::none;
  Mac mac{};
};

struct MaskArg {
  MaskCommand mcmd = MaskCommand::read;
  MaskError merror = MaskError::ok;
  std::uint8_t dir_count = 0;
  Bytes directives;  // dir_count entries of 8 bytes, checked to fit; empty when merror != ok

  MaskEntry entry(std::size_t i) const noexcept;  // i < dir_count
};

// --- Command 3: Reserve / Release (docs/aoe-protocol.md §6)
enum class ReserveCommand : std::uint8_t { read = 0, set = 1, force_set = 2 };

struct ReserveArg {
  ReserveCommand rcmd = ReserveCommand::read;
  std::uint8_t nmacs = 0;
  Bytes macs;  // nmacs entries of 6 bytes, checked to fit

  Mac mac(std::size_t i) const noexcept;  // i < nmacs
};

using Arg = std::variant<AtaArg, ConfigArg, MaskArg, ReserveArg>;

struct Frame {
  Header header;
  Arg arg;
};

// Decodes one received Ethernet frame (from the destination MAC on, no FCS).
// Checks EtherType, version, reserved flags, command and every length in the
// Arg; trailing bytes (Ethernet padding) are allowed.  On error `out` is
// unspecified.  The spans in `out` point into `frame`.
std::error_code decode(Bytes frame, Frame& out) noexcept;

// Decodes only the common header (the cheap first step of frame routing).
std::error_code decode_header(Bytes frame, Header& out) noexcept;

// Encoders write a complete frame into `out` and return its length, padded
// with zeroes to min_frame_size; 0 if `out` is too small.  The Arg's data /
// string / list spans are copied after the fixed part.
std::size_t encode(const Header& header, const AtaArg& arg, MutableBytes out) noexcept;
std::size_t encode(const Header& header, const ConfigArg& arg, MutableBytes out) noexcept;
std::size_t encode(const Header& header, const MaskArg& arg, MutableBytes out) noexcept;
std::size_t encode(const Header& header, const ReserveArg& arg, MutableBytes out) noexcept;

// Writes the 36-byte header of an ATA frame without its data, for
// scatter-gather sends where the data stays in the caller's buffer.
// Returns ata_header_size, or 0 if `out` is too small.
std::size_t encode_ata_header(const Header& header, const AtaArg& arg, MutableBytes out) noexcept;

// MAC address text: "aa:bb:cc:dd:ee:ff".  parse_mac also takes "aabbccddeeff".
std::string format_mac(const Mac& mac);
bool parse_mac(std::string_view text, Mac& out) noexcept;

// A target's address: Major (shelf) and Minor (slot), docs/aoe-protocol.md §2.3.
struct TargetId {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  bool operator==(const TargetId&) const = default;
};

// Target names: "e1.2" <-> shelf 1, slot 2 (broadcast values are not names).
std::string format_target(std::uint16_t shelf, std::uint8_t slot);
bool parse_target(std::string_view text, std::uint16_t& shelf, std::uint8_t& slot) noexcept;
// The one spelling of a target name ("e01.2" -> "e1.2"), or nothing.
std::optional<std::string> canonical_target(std::string_view text);

}  // namespace aoe::wire
