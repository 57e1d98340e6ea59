// wire.cpp: AoE frames to and from bytes (docs/aoe-protocol.md §2-§6).  Every read is
// preceded by a length check, so a hostile frame can only yield an errc.
#include "initiator/wire.h"

#include "initiator/errors.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace aoe::wire {
namespace {

// Ver/Flags byte, frame offset 14 (docs/aoe-protocol.md §2.1).
constexpr std::uint8_t version = 1;
constexpr std::uint8_t flag_response = 0x08;
constexpr std::uint8_t flag_error = 0x04;

// LBA28 puts the Device register's upper nibble in lba3 (docs/aoe-protocol.md §3.3).
constexpr std::uint64_t device_lba = 0xE0;
constexpr std::uint64_t device_no_address = 0xA0;
constexpr std::uint64_t lba48_mask = (std::uint64_t{1} << 48) - 1;

std::uint8_t get8(Bytes b, std::size_t at) noexcept { return std::to_integer<std::uint8_t>(b[at]); }

std::uint16_t get16(Bytes b, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(get8(b, at) << 8 | get8(b, at + 1));
}

std::uint32_t get32(Bytes b, std::size_t at) noexcept {
  return std::uint32_t{get16(b, at)} << 16 | get16(b, at + 2);
}

Mac get_mac(Bytes b, std::size_t at) noexcept {
  Mac mac;
  for (std::size_t i = 0; i < mac.size(); ++i) mac[i] = get8(b, at + i);
  return mac;
}

void put8(MutableBytes b, std::size_t at, std::uint8_t v) noexcept { b[at] = std::byte{v}; }

void put16(MutableBytes b, std::size_t at, std::uint16_t v) noexcept {
  put8(b, at, static_cast<std::uint8_t>(v >> 8));
  put8(b, at + 1, static_cast<std::uint8_t>(v));
}

void put32(MutableBytes b, std::size_t at, std::uint32_t v) noexcept {
  put16(b, at, static_cast<std::uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<std::uint16_t>(v));
}

void put_mac(MutableBytes b, std::size_t at, const Mac& mac) noexcept {
  for (std::size_t i = 0; i < mac.size(); ++i) put8(b, at + i, mac[i]);
}

void put_bytes(MutableBytes b, std::size_t at, Bytes from) noexcept {
  if (!from.empty()) std::memcpy(b.data() + at, from.data(), from.size());
}

// The frame length once padded to the Ethernet minimum (docs/aoe-protocol.md §7), or 0 if it
// does not fit in `out`.
std::size_t frame_size(std::size_t fixed, std::size_t variable, MutableBytes out) noexcept {
  const std::size_t size = std::max(fixed + variable, min_frame_size);
  return size <= out.size() ? size : 0;
}

void put_common(const Header& h, Command command, MutableBytes out) noexcept {
  put_mac(out, 0, h.dst);
  put_mac(out, 6, h.src);
  put16(out, 12, ethertype);
  put8(out, 14, static_cast<std::uint8_t>(version << 4 | (h.response ? flag_response : 0) |
                                          (h.error ? flag_error : 0)));
  put8(out, 15, h.error_code);
  put16(out, 16, h.shelf);
  put8(out, 18, h.slot);
  put8(out, 19, static_cast<std::uint8_t>(command));
  put32(out, 20, h.tag);
}

void put_ata(const Header& h, const AtaArg& a, MutableBytes out) noexcept {
  put_common(h, Command::ata, out);
  put8(out, 24, a.aflags);
  put8(out, 25, a.err_feature);
  put8(out, 26, a.sector_count);
  put8(out, 27, a.cmd_status);
  for (std::size_t i = 0; i < 6; ++i) put8(out, 28 + i, static_cast<std::uint8_t>(a.lba >> (8 * i)));
  put16(out, 34, 0);
}

// Zeroes the Ethernet padding after the written bytes; returns the frame length.
std::size_t zero_pad(MutableBytes out, std::size_t written, std::size_t size) noexcept {
  std::memset(out.data() + written, 0, size - written);
  return size;
}

std::error_code decode_ata(const Header& h, Bytes f, AtaArg& a) noexcept {
  if (f.size() < ata_header_size) return errc::frame_too_short;
  a.aflags = get8(f, 24);
  a.err_feature = get8(f, 25);
  a.sector_count = get8(f, 26);
  a.cmd_status = get8(f, 27);
  a.lba = 0;
  for (std::size_t i = 0; i < 6; ++i) a.lba |= std::uint64_t{get8(f, 28 + i)} << (8 * i);
  a.data = f.subspan(ata_header_size);
  // A write request carries exactly SectorCount sectors; the rest is padding
  // (docs/aoe-protocol.md §3.4).  Responses are checked by the engine, which knows the request.
  if (!h.response && (a.aflags & aflags::write) != 0) {
    const std::size_t want = std::size_t{a.sector_count} * sector_size;
    if (a.data.size() < want) return errc::bad_data_length;
    a.data = a.data.first(want);
  }
  return {};
}

std::error_code decode_config(Bytes f, ConfigArg& a) noexcept {
  if (f.size() < config_header_size) return errc::frame_too_short;
  a.buffer_count = get16(f, 24);
  a.firmware_version = get16(f, 26);
  a.sector_count = get8(f, 28);
  a.aoe_version = static_cast<std::uint8_t>(get8(f, 29) >> 4);
  a.ccmd = static_cast<ConfigCommand>(get8(f, 29) & 0x0F);
  if (a.ccmd > ConfigCommand::force_set) return errc::unknown_subcommand;
  const std::size_t length = get16(f, 30);
  if (length > max_config_string || length > f.size() - config_header_size)
    return errc::bad_config_length;
  a.config_string = f.subspan(config_header_size, length);
  return {};
}

std::error_code decode_mask(Bytes f, MaskArg& a) noexcept {
  if (f.size() < mask_header_size) return errc::frame_too_short;
  a.mcmd = static_cast<MaskCommand>(get8(f, 25));
  if (a.mcmd > MaskCommand::edit) return errc::unknown_subcommand;
  a.merror = static_cast<MaskError>(get8(f, 26));
  a.dir_count = get8(f, 27);
  // A failed edit carries no list: vblade sets Dir Count to the index of
  // the failing directive (docs/aoe-protocol.md §5), so the count need not fit the frame.
  if (a.merror != MaskError::ok) {
    a.directives = {};
    return {};
  }
  const std::size_t length = std::size_t{a.dir_count} * 8;
  if (length > f.size() - mask_header_size) return errc::bad_directive_count;
  a.directives = f.subspan(mask_header_size, length);
  return {};
}

std::error_code decode_reserve(Bytes f, ReserveArg& a) noexcept {
  if (f.size() < reserve_header_size) return errc::frame_too_short;
  a.rcmd = static_cast<ReserveCommand>(get8(f, 24));
  if (a.rcmd > ReserveCommand::force_set) return errc::unknown_subcommand;
  a.nmacs = get8(f, 25);
  const std::size_t length = std::size_t{a.nmacs} * 6;
  if (length > f.size() - reserve_header_size) return errc::bad_mac_count;
  a.macs = f.subspan(reserve_header_size, length);
  return {};
}

// Parses an unsigned decimal field that must run to the end of `text`.
bool parse_number(std::string_view text, unsigned long max, unsigned long& out) noexcept {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && out <= max;
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

AtaArg ata_read(std::uint64_t lba, std::uint8_t sectors, bool lba48) noexcept {
  AtaArg a;
  a.sector_count = sectors;
  if (lba48) {
    a.aflags = aflags::extended;
    a.cmd_status = ata::read_sectors_ext;
    a.lba = lba & lba48_mask;
  } else {
    a.cmd_status = ata::read_sectors;
    a.lba = (lba & 0x00FF'FFFF) | (device_lba | ((lba >> 24) & 0x0F)) << 24;
  }
  return a;
}

AtaArg ata_write(std::uint64_t lba, std::uint8_t sectors, bool lba48) noexcept {
  AtaArg a = ata_read(lba, sectors, lba48);
  a.aflags |= aflags::write;
  a.cmd_status = lba48 ? ata::write_sectors_ext : ata::write_sectors;
  return a;
}

AtaArg ata_identify() noexcept {
  AtaArg a;
  a.cmd_status = ata::identify_device;
  a.sector_count = 1;
  a.lba = device_no_address << 24;
  return a;
}

// What comes back of an ATA request (docs/aoe-protocol.md §3.1).  vblade
// answers in the request's own buffer (aoe.c aoeata(), ata.c atacmd()), and
// a tshark capture of vblade's answers shows the same: AFlags and all six
// LBA bytes unchanged, Sector Count as the sectors left undone (0 on
// success, all of them on IDNF), Err/Feature and Cmd/Status as the ATA
// registers.  A target that instead returns the LBA registers as a drive
// leaves them (the last or next sector, or the failing one) still names an
// address within the frame's sectors; anything else answers another frame.
bool answers(const AtaArg& request, const AtaArg& reply) noexcept {
  constexpr std::uint8_t echoed_flags = aflags::extended | aflags::write;
  if ((request.aflags ^ reply.aflags) & echoed_flags) return false;
  if (reply.sector_count > request.sector_count) return false;
  // LBA28 keeps the Device register in lba3's high nibble (docs/aoe-protocol.md §3.3).
  const std::uint64_t mask = (request.aflags & aflags::extended) ? lba48_mask : 0x0FFF'FFFF;
  const std::uint64_t sent = request.lba & mask, got = reply.lba & mask;
  return got >= sent && got - sent <= request.sector_count;
}

AtaArg ata_flush(bool ext) noexcept {
  AtaArg a;
  if (ext) {
    // With E set all six lba bytes are address bits (docs/aoe-protocol.md §3.2), unused here.
    a.aflags = aflags::extended;
    a.cmd_status = ata::flush_cache_ext;
  } else {
    a.cmd_status = ata::flush_cache;
    a.lba = device_no_address << 24;
  }
  return a;
}

MaskEntry MaskArg::entry(std::size_t i) const noexcept {
  MaskEntry e;
  if (i >= dir_count || (i + 1) * 8 > directives.size()) return e;
  e.directive = static_cast<MaskDirective>(get8(directives, i * 8 + 1));
  e.mac = get_mac(directives, i * 8 + 2);
  return e;
}

Mac ReserveArg::mac(std::size_t i) const noexcept {
  if (i >= nmacs || (i + 1) * 6 > macs.size()) return Mac{};
  return get_mac(macs, i * 6);
}

std::error_code decode_header(Bytes frame, Header& out) noexcept {
  if (frame.size() < common_header_size) return errc::frame_too_short;
  if (get16(frame, 12) != ethertype) return errc::bad_ethertype;
  const std::uint8_t ver_flags = get8(frame, 14);
  if (ver_flags >> 4 != version) return errc::bad_version;
  // Reserved bits (here, in AFlags and in the ATA header) are not
  // interpreted: senders must write zero, receivers must not look (docs/aoe-protocol.md §1).
  // 4..0xEF are undefined and 0xF0..0xFF vendor specific (docs/aoe-protocol.md §2.4): we speak neither.
  const std::uint8_t command = get8(frame, 19);
  if (command > static_cast<std::uint8_t>(Command::reserve)) return errc::unknown_command;

  out.dst = get_mac(frame, 0);
  out.src = get_mac(frame, 6);
  out.response = (ver_flags & flag_response) != 0;
  out.error = (ver_flags & flag_error) != 0;
  out.error_code = get8(frame, 15);
  out.shelf = get16(frame, 16);
  out.slot = get8(frame, 18);
  out.command = static_cast<Command>(command);
  out.tag = get32(frame, 20);
  return {};
}

std::error_code decode(Bytes frame, Frame& out) noexcept {
  if (auto ec = decode_header(frame, out.header)) return ec;
  switch (out.header.command) {
    case Command::ata: return decode_ata(out.header, frame, out.arg.emplace<AtaArg>());
    case Command::query_config: return decode_config(frame, out.arg.emplace<ConfigArg>());
    case Command::mac_mask: return decode_mask(frame, out.arg.emplace<MaskArg>());
    case Command::reserve: return decode_reserve(frame, out.arg.emplace<ReserveArg>());
  }
  return errc::unknown_command;
}

std::size_t encode_ata_header(const Header& header, const AtaArg& arg, MutableBytes out) noexcept {
  if (out.size() < ata_header_size) return 0;
  put_ata(header, arg, out);
  return ata_header_size;
}

std::size_t encode(const Header& header, const AtaArg& arg, MutableBytes out) noexcept {
  const std::size_t size = frame_size(ata_header_size, arg.data.size(), out);
  if (size == 0) return 0;
  put_ata(header, arg, out);
  put_bytes(out, ata_header_size, arg.data);
  return zero_pad(out, ata_header_size + arg.data.size(), size);
}

std::size_t encode(const Header& header, const ConfigArg& arg, MutableBytes out) noexcept {
  // The length field could carry more, but no peer accepts it (docs/aoe-protocol.md §4.1).
  if (arg.config_string.size() > max_config_string) return 0;
  const std::size_t size = frame_size(config_header_size, arg.config_string.size(), out);
  if (size == 0) return 0;
  put_common(header, Command::query_config, out);
  put16(out, 24, arg.buffer_count);
  put16(out, 26, arg.firmware_version);
  put8(out, 28, arg.sector_count);
  put8(out, 29, static_cast<std::uint8_t>(arg.aoe_version << 4 | (static_cast<std::uint8_t>(arg.ccmd) & 0x0F)));
  put16(out, 30, static_cast<std::uint16_t>(arg.config_string.size()));
  put_bytes(out, config_header_size, arg.config_string);
  return zero_pad(out, config_header_size + arg.config_string.size(), size);
}

std::size_t encode(const Header& header, const MaskArg& arg, MutableBytes out) noexcept {
  const std::size_t size = frame_size(mask_header_size, arg.directives.size(), out);
  if (size == 0) return 0;
  put_common(header, Command::mac_mask, out);
  put8(out, 24, 0);
  put8(out, 25, static_cast<std::uint8_t>(arg.mcmd));
  put8(out, 26, static_cast<std::uint8_t>(arg.merror));
  put8(out, 27, arg.dir_count);
  put_bytes(out, mask_header_size, arg.directives);
  return zero_pad(out, mask_header_size + arg.directives.size(), size);
}

std::size_t encode(const Header& header, const ReserveArg& arg, MutableBytes out) noexcept {
  const std::size_t size = frame_size(reserve_header_size, arg.macs.size(), out);
  if (size == 0) return 0;
  put_common(header, Command::reserve, out);
  put8(out, 24, static_cast<std::uint8_t>(arg.rcmd));
  put8(out, 25, arg.nmacs);
  put_bytes(out, reserve_header_size, arg.macs);
  return zero_pad(out, reserve_header_size + arg.macs.size(), size);
}

std::string format_mac(const Mac& mac) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  for (std::uint8_t b : mac) {
    if (!text.empty()) text += ':';
    text += digits[b >> 4];
    text += digits[b & 0x0F];
  }
  return text;
}

bool parse_mac(std::string_view text, Mac& out) noexcept {
  const bool colons = text.size() == 17;
  if (!colons && text.size() != 12) return false;
  const std::size_t stride = colons ? 3 : 2;
  Mac mac;
  for (std::size_t i = 0; i < mac.size(); ++i) {
    const std::size_t at = i * stride;
    if (colons && i > 0 && text[at - 1] != ':') return false;
    const int hi = hex_digit(text[at]);
    const int lo = hex_digit(text[at + 1]);
    if (hi < 0 || lo < 0) return false;
    mac[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  out = mac;
  return true;
}

std::string format_target(std::uint16_t shelf, std::uint8_t slot) {
  // to_chars into one buffer: "e" + to_string(...) chains made g++ 12 at -O3
  // report a false -Wrestrict.
  char text[sizeof "e65535.255"];
  char* end = text + sizeof text;
  char* p = text;
  *p++ = 'e';
  p = std::to_chars(p, end, shelf).ptr;
  *p++ = '.';
  p = std::to_chars(p, end, unsigned{slot}).ptr;
  return std::string(text, p);
}

bool parse_target(std::string_view text, std::uint16_t& shelf, std::uint8_t& slot) noexcept {
  if (text.size() < 4 || text[0] != 'e') return false;
  const std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) return false;
  // from_chars takes neither signs nor spaces, so "e+1.2" and "e 1.2" fail here.
  unsigned long major = 0;
  unsigned long minor = 0;
  if (!parse_number(text.substr(1, dot - 1), broadcast_shelf - 1, major) ||
      !parse_number(text.substr(dot + 1), broadcast_slot - 1, minor))
    return false;
  shelf = static_cast<std::uint16_t>(major);
  slot = static_cast<std::uint8_t>(minor);
  return true;
}

std::optional<std::string> canonical_target(std::string_view text) {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  if (!parse_target(text, shelf, slot)) return std::nullopt;
  return format_target(shelf, slot);
}

}  // namespace aoe::wire
