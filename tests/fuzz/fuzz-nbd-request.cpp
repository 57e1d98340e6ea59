// fuzz-nbd-request: request headers through the parser and the validator
// against an export described by the input's first 10 bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "nbd-bridge/protocol.h"

using namespace aoe::nbd;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  if (in.size() < 10) return 0;
  ExportLimits limits;
  for (std::size_t i = 0; i < 8; ++i) limits.size = (limits.size << 8) | std::to_integer<std::uint64_t>(in[i]);
  limits.transmission_flags = static_cast<std::uint16_t>(std::to_integer<unsigned>(in[8]) << 8 |
                                                         std::to_integer<unsigned>(in[9]));
  in = in.subspan(10);
  while (!in.empty()) {
    TransmissionRequest r;
    const Parse p = parse_request(in, r);
    if (p == Parse::need_more) return 0;
    in = in.subspan(request_header_size);
    if (p != Parse::ok) continue;
    const std::uint32_t error = validate_request(r, limits);
    check(error == 0 || error == err_inval || error == err_nospc || error == err_perm || error == err_notsup);
    if (error == 0 && r.type != cmd_flush) {
      // What the backend may assume of an accepted request.
      check(r.offset <= limits.size && r.length <= limits.size - r.offset);
      check(r.type == cmd_read || r.type == cmd_write || r.type == cmd_write_zeroes || r.type == cmd_trim);
      check(!(limits.transmission_flags & tflag_read_only) || r.type == cmd_read);
      check(r.type == cmd_write_zeroes || r.type == cmd_trim || r.length <= max_accepted_payload);
    }
    const auto reply = encode_simple_reply(r.cookie, error);
    check(reply.size() == simple_reply_size);
    if (r.type == cmd_read && error == 0 && r.length > 0) encode_offset_data_header(r.cookie, r.offset, r.length);
  }
  return 0;
}
