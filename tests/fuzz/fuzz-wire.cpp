// fuzz-wire: any bytes into decode/decode_header must give a result, never a
// crash; whatever decodes must re-encode to a frame that decodes the same.
#include "initiator/wire.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

namespace wire = aoe::wire;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool same(wire::Bytes a, wire::Bytes b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool starts_with(wire::Bytes a, wire::Bytes prefix) {
  return a.size() >= prefix.size() && same(a.first(prefix.size()), prefix);
}

void check_header(const wire::Header& a, const wire::Header& b) {
  check(a.dst == b.dst && a.src == b.src && a.response == b.response && a.error == b.error &&
        a.error_code == b.error_code && a.shelf == b.shelf && a.slot == b.slot &&
        a.command == b.command && a.tag == b.tag);
}

void check_arg(const wire::Header& h, const wire::AtaArg& a, const wire::AtaArg& b) {
  check(a.aflags == b.aflags && a.err_feature == b.err_feature && a.sector_count == b.sector_count &&
        a.cmd_status == b.cmd_status && a.lba == b.lba && a.lba < (std::uint64_t{1} << 48));
  // Re-encoding may add Ethernet padding after data shorter than 24 bytes;
  // a write request's data is trimmed to exactly its sectors.
  const bool write_request = !h.response && (a.aflags & wire::aflags::write) != 0;
  check(write_request ? same(a.data, b.data) : starts_with(b.data, a.data));
}

void check_arg(const wire::Header&, const wire::ConfigArg& a, const wire::ConfigArg& b) {
  check(a.buffer_count == b.buffer_count && a.firmware_version == b.firmware_version &&
        a.sector_count == b.sector_count && a.aoe_version == b.aoe_version && a.ccmd == b.ccmd &&
        a.config_string.size() <= wire::max_config_string && same(a.config_string, b.config_string));
}

void check_arg(const wire::Header&, const wire::MaskArg& a, const wire::MaskArg& b) {
  check(a.mcmd == b.mcmd && a.merror == b.merror && a.dir_count == b.dir_count &&
        a.directives.size() == (a.merror == wire::MaskError::ok ? a.dir_count * 8u : 0u) &&
        same(a.directives, b.directives));
  for (std::size_t i = 0; i < a.dir_count; ++i)
    check(a.entry(i).mac == b.entry(i).mac && a.entry(i).directive == b.entry(i).directive);
}

void check_arg(const wire::Header&, const wire::ReserveArg& a, const wire::ReserveArg& b) {
  check(a.rcmd == b.rcmd && a.nmacs == b.nmacs && a.macs.size() == a.nmacs * 6u && same(a.macs, b.macs));
  for (std::size_t i = 0; i < a.nmacs; ++i) check(a.mac(i) == b.mac(i));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const wire::Bytes input = std::as_bytes(std::span(data, size));

  wire::Header header;
  const std::error_code header_ec = wire::decode_header(input, header);
  wire::Frame frame;
  const std::error_code ec = wire::decode(input, frame);
  if (ec) return 0;
  check(!header_ec);  // decode succeeds only past decode_header's checks
  check_header(frame.header, header);

  // The re-encoded frame is never longer than the input or the minimum frame.
  std::vector<std::byte> out(std::max(size, wire::min_frame_size));
  const std::size_t n =
      std::visit([&](const auto& arg) { return wire::encode(frame.header, arg, out); }, frame.arg);
  check(n >= wire::min_frame_size && n <= out.size());
  const wire::Bytes encoded = wire::Bytes(out).first(n);
  // The common header re-encodes byte for byte, but for the reserved
  // Ver/Flags bits, which decode does not interpret and encode writes as
  // zero (docs/aoe-protocol.md §1).
  constexpr std::size_t ver_flags = 14;
  constexpr std::byte reserved_flags{0x03};
  for (std::size_t i = 0; i < wire::common_header_size; ++i)
    check(encoded[i] == (i == ver_flags ? input[i] & ~reserved_flags : input[i]));

  wire::Frame again;
  check(!wire::decode(encoded, again));
  check_header(again.header, frame.header);
  check(again.arg.index() == frame.arg.index());
  std::visit([&](const auto& arg) {
    using A = std::decay_t<decltype(arg)>;
    check_arg(frame.header, arg, std::get<A>(again.arg));
  }, frame.arg);

  if (const auto* ata = std::get_if<wire::AtaArg>(&frame.arg)) {
    std::byte head[wire::ata_header_size];
    check(wire::encode_ata_header(frame.header, *ata, head) == wire::ata_header_size);
    check(same(head, encoded.first(wire::ata_header_size)));
  }
  return 0;
}
