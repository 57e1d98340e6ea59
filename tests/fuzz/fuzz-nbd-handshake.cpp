// fuzz-nbd-handshake: a client's whole handshake stream (client flags, then
// options) through the pure handshake code, checking every reply is well formed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "nbd-bridge/protocol.h"

using namespace aoe::nbd;

namespace {

std::uint64_t load(std::span<const std::byte> b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(b[at + i]);
  return v;
}

void check(bool ok) {
  if (!ok) std::abort();
}

// Every option reply: magic, the option answered, a length that fits.
void check_replies(const OptionHeader& h, const OptionOutcome& out, const HandshakeState& state) {
  std::span<const std::byte> r(out.reply);
  if (h.option == opt_export_name) {
    if (out.next == Next::transmission)
      check(r.size() == ((state.client_flags & flag_no_zeroes) ? 10u : 134u));
    else
      check(r.empty());
    return;
  }
  bool final_seen = false;
  while (!r.empty()) {
    check(!final_seen && r.size() >= 20);
    check(load(r, 0, 8) == rep_magic);
    check(load(r, 8, 4) == h.option);
    const auto type = load(r, 12, 4);
    const auto len = load(r, 16, 4);
    check(len <= r.size() - 20);
    if (type == rep_info) check(len >= 2);
    final_seen = type == rep_ack || (type & 0x80000000u);
    r = r.subspan(20 + len);
  }
  check(final_seen || out.next == Next::close);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  if (in.size() < 4) return 0;
  HandshakeState state;
  state.client_flags = static_cast<std::uint32_t>(load(in, 0, 4));
  if (!client_flags_ok(state.client_flags)) return 0;
  in = in.subspan(4);
  const ExportInfo info{"disk", "fuzz", 1 << 30, tflag_has_flags | tflag_send_flush};
  for (;;) {
    OptionHeader h;
    if (parse_option_header(in, h) != Parse::ok) return 0;
    in = in.subspan(option_header_size);
    if (h.length > in.size()) return 0;
    const auto payload = in.first(h.length);
    in = in.subspan(h.length);
    InfoRequest request;
    if (parse_info_request(payload, request)) check(4 + request.name.size() + 2 + 2 * request.requests.size() == payload.size());
    const auto out = answer_option(h, option_wants_data(h) ? payload : std::span<const std::byte>{}, info, state);
    check_replies(h, out, state);
    if (out.next != Next::more_options) return 0;
  }
}
