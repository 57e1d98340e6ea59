#include "nbd-bridge/protocol.h"

#include <algorithm>
#include <cerrno>

namespace aoe::nbd {
namespace {

std::uint64_t load_be(std::span<const std::byte> in, std::size_t at, std::size_t width) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(in[at + i]);
  return v;
}

template <std::size_t N>
void store_be(std::array<std::byte, N>& out, std::size_t at, std::uint64_t v, std::size_t width) noexcept {
  for (std::size_t i = 0; i < width; ++i)
    out[at + i] = static_cast<std::byte>(v >> (8 * (width - 1 - i)));
}

void append_be(std::vector<std::byte>& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::byte>(v >> (8 * (width - 1 - i))));
}

void append_text(std::vector<std::byte>& out, std::string_view text) {
  for (char c : text) out.push_back(static_cast<std::byte>(c));
}

std::string_view as_text(std::span<const std::byte> data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

bool names_export(std::string_view asked, const ExportInfo& e) {
  return asked.empty() || asked == e.name;
}

void answer_info_or_go(const OptionHeader& h, std::span<const std::byte> data, const ExportInfo& e,
                       OptionOutcome& out) {
  InfoRequest request;
  if (data.size() != h.length || !parse_info_request(data, request)) {
    append_option_reply(out.reply, h.option, rep_err_invalid);
    return;
  }
  if (!names_export(request.name, e)) {
    append_option_reply(out.reply, h.option, rep_err_unknown);
    return;
  }
  append_info_export(out.reply, h.option, e.size, e.transmission_flags);
  std::sort(request.requests.begin(), request.requests.end());
  request.requests.erase(std::unique(request.requests.begin(), request.requests.end()),
                         request.requests.end());
  for (std::uint16_t type : request.requests) {
    switch (type) {
      case info_name: append_info_string(out.reply, h.option, info_name, e.name); break;
      case info_description:
        if (!e.description.empty()) append_info_string(out.reply, h.option, info_description, e.description);
        break;
      case info_block_size: append_info_block_size(out.reply, h.option); break;
      default: break;  // unknown requests are ignored (spec)
    }
  }
  append_option_reply(out.reply, h.option, rep_ack);
  if (h.option == opt_go) out.next = Next::transmission;
}

}  // namespace

std::uint32_t errno_to_nbd(int host_errno) noexcept {
  switch (host_errno) {
    case 0: return 0;
    case EPERM: case EROFS: case EACCES: return err_perm;
    case ENOMEM: return err_nomem;
    case EINVAL: return err_inval;
    case ENOSPC: case EDQUOT: case EFBIG: return err_nospc;
    case EOVERFLOW: return err_overflow;
    case ENOTSUP: return err_notsup;
    case ESHUTDOWN: return err_shutdown;
    default: return err_io;
  }
}

std::array<std::byte, greeting_size> encode_greeting() noexcept {
  std::array<std::byte, greeting_size> g{};
  store_be(g, 0, nbd_magic, 8);
  store_be(g, 8, opt_magic, 8);
  store_be(g, 16, handshake_flags, 2);
  return g;
}

Parse parse_option_header(std::span<const std::byte> in, OptionHeader& out) noexcept {
  if (in.size() < option_header_size) return Parse::need_more;
  if (load_be(in, 0, 8) != opt_magic) return Parse::bad_magic;
  out.option = static_cast<std::uint32_t>(load_be(in, 8, 4));
  out.length = static_cast<std::uint32_t>(load_be(in, 12, 4));
  return out.length > max_option_length ? Parse::too_long : Parse::ok;
}

bool option_wants_data(const OptionHeader& h) noexcept {
  switch (h.option) {
    case opt_export_name: return h.length <= max_string;
    case opt_info: case opt_go: return h.length <= max_info_request;
    default: return false;
  }
}

bool parse_info_request(std::span<const std::byte> data, InfoRequest& out) {
  if (data.size() < 6) return false;
  const std::uint64_t n = load_be(data, 0, 4);
  if (n > data.size() - 6 || n > max_string) return false;
  const std::size_t count_at = 4 + static_cast<std::size_t>(n);
  const std::uint64_t k = load_be(data, count_at, 2);
  if (data.size() != count_at + 2 + 2 * k) return false;
  out.name = as_text(data.subspan(4, static_cast<std::size_t>(n)));
  out.requests.clear();
  for (std::size_t i = 0; i < k; ++i)
    out.requests.push_back(static_cast<std::uint16_t>(load_be(data, count_at + 2 + 2 * i, 2)));
  return true;
}

OptionOutcome answer_option(const OptionHeader& h, std::span<const std::byte> data,
                            const ExportInfo& e, HandshakeState& state) {
  OptionOutcome out;
  if (++state.options_seen > max_options) {
    out.next = Next::close;  // fends off a client that haggles forever
    return out;
  }
  switch (h.option) {
    case opt_export_name:
      // No way to report an error here: a bad name can only close.
      if (data.size() != h.length || !names_export(as_text(data), e)) {
        out.next = Next::close;
        break;
      }
      append_be(out.reply, e.size, 8);
      append_be(out.reply, e.transmission_flags, 2);
      if (!(state.client_flags & flag_no_zeroes)) out.reply.resize(out.reply.size() + 124);
      out.next = Next::transmission;
      break;
    case opt_abort:
      append_option_reply(out.reply, h.option, rep_ack);
      out.next = Next::close;
      break;
    case opt_list:
      if (h.length != 0) {
        append_option_reply(out.reply, h.option, rep_err_invalid);
        break;
      }
      {
        std::vector<std::byte> server;
        append_be(server, e.name.size(), 4);
        append_text(server, e.name);
        append_option_reply(out.reply, h.option, rep_server, server);
      }
      append_option_reply(out.reply, h.option, rep_ack);
      break;
    case opt_info:
    case opt_go:
      answer_info_or_go(h, data, e, out);
      break;
    case opt_structured_reply:
      if (h.length != 0 || state.structured_replies) {
        append_option_reply(out.reply, h.option, rep_err_invalid);
        break;
      }
      state.structured_replies = true;
      append_option_reply(out.reply, h.option, rep_ack);
      break;
    default:  // STARTTLS, META_CONTEXT, EXTENDED_HEADERS and anything unknown
      append_option_reply(out.reply, h.option, rep_err_unsup);
      break;
  }
  return out;
}

OptionOutcome answer_option_shutting_down(const OptionHeader& h) {
  OptionOutcome out;
  if (h.option == opt_export_name) {
    out.next = Next::close;
  } else if (h.option == opt_abort) {
    append_option_reply(out.reply, h.option, rep_ack);
    out.next = Next::close;
  } else {
    append_option_reply(out.reply, h.option, rep_err_shutdown);
  }
  return out;
}

void append_option_reply(std::vector<std::byte>& out, std::uint32_t option, std::uint32_t type,
                         std::span<const std::byte> data) {
  append_be(out, rep_magic, 8);
  append_be(out, option, 4);
  append_be(out, type, 4);
  append_be(out, data.size(), 4);
  out.insert(out.end(), data.begin(), data.end());
}

void append_info_export(std::vector<std::byte>& out, std::uint32_t option, std::uint64_t size,
                        std::uint16_t flags) {
  std::vector<std::byte> info;
  append_be(info, info_export, 2);
  append_be(info, size, 8);
  append_be(info, flags, 2);
  append_option_reply(out, option, rep_info, info);
}

void append_info_string(std::vector<std::byte>& out, std::uint32_t option, InfoType type,
                        std::string_view text) {
  std::vector<std::byte> info;
  append_be(info, type, 2);
  append_text(info, text);
  append_option_reply(out, option, rep_info, info);
}

void append_info_block_size(std::vector<std::byte>& out, std::uint32_t option) {
  std::vector<std::byte> info;
  append_be(info, info_block_size, 2);
  append_be(info, min_block_size, 4);
  append_be(info, preferred_block_size, 4);
  append_be(info, max_payload, 4);
  append_option_reply(out, option, rep_info, info);
}

Parse parse_request(std::span<const std::byte> in, TransmissionRequest& out) noexcept {
  if (in.size() < request_header_size) return Parse::need_more;
  if (load_be(in, 0, 4) != request_magic) return Parse::bad_magic;
  out.flags = static_cast<std::uint16_t>(load_be(in, 4, 2));
  out.type = static_cast<std::uint16_t>(load_be(in, 6, 2));
  out.cookie = load_be(in, 8, 8);
  out.offset = load_be(in, 16, 8);
  out.length = static_cast<std::uint32_t>(load_be(in, 24, 4));
  return Parse::ok;
}

std::uint32_t validate_request(const TransmissionRequest& r, const ExportLimits& limits) noexcept {
  const std::uint16_t tf = limits.transmission_flags;
  const bool writes = r.type == cmd_write || r.type == cmd_write_zeroes || r.type == cmd_trim;

  if (r.type != cmd_read && r.type != cmd_write && r.type != cmd_flush && !writes)
    return err_inval;  // CACHE, BLOCK_STATUS, unknown

  // Flags: each defined for its command only, and only once advertised.
  std::uint16_t allowed = (tf & tflag_send_fua) ? cmd_flag_fua : 0;
  if (r.type == cmd_read && (tf & tflag_send_df)) allowed |= cmd_flag_df;
  if (r.type == cmd_write_zeroes) {
    allowed |= cmd_flag_no_hole;
    if (tf & tflag_send_fast_zero) allowed |= cmd_flag_fast_zero;
  }
  if (r.flags & ~allowed) return err_inval;

  if (writes && ((tf & tflag_read_only) || limits.writes_refused)) return err_perm;
  if ((r.type == cmd_flush && !(tf & tflag_send_flush)) ||
      (r.type == cmd_trim && !(tf & tflag_send_trim)) ||
      (r.type == cmd_write_zeroes && !(tf & tflag_send_write_zeroes)))
    return err_inval;  // not advertised

  if (r.type == cmd_flush) return (r.offset != 0 || r.length != 0) ? err_inval : 0;

  if (r.offset > limits.size || r.length > limits.size - r.offset)
    return (r.type == cmd_write || r.type == cmd_write_zeroes) ? err_nospc : err_inval;
  if ((r.type == cmd_read || r.type == cmd_write) && r.length > max_accepted_payload) return err_inval;
  // Zeroing is never faster than writing zeroes here; say so, changing nothing.
  if (r.flags & cmd_flag_fast_zero) return err_notsup;
  return 0;
}

std::array<std::byte, simple_reply_size> encode_simple_reply(std::uint64_t cookie,
                                                             std::uint32_t error) noexcept {
  std::array<std::byte, simple_reply_size> out{};
  store_be(out, 0, simple_reply_magic, 4);
  store_be(out, 4, error, 4);
  store_be(out, 8, cookie, 8);
  return out;
}

std::array<std::byte, chunk_header_size + 8> encode_offset_data_header(std::uint64_t cookie,
                                                                      std::uint64_t offset,
                                                                      std::uint32_t length) noexcept {
  std::array<std::byte, chunk_header_size + 8> out{};
  store_be(out, 0, structured_reply_magic, 4);
  store_be(out, 4, reply_flag_done, 2);
  store_be(out, 6, chunk_offset_data, 2);
  store_be(out, 8, cookie, 8);
  store_be(out, 16, std::uint64_t{length} + 8, 4);
  store_be(out, 20, offset, 8);
  return out;
}

std::array<std::byte, chunk_header_size> encode_none_chunk(std::uint64_t cookie) noexcept {
  std::array<std::byte, chunk_header_size> out{};
  store_be(out, 0, structured_reply_magic, 4);
  store_be(out, 4, reply_flag_done, 2);
  store_be(out, 8, cookie, 8);  // type NONE = 0, length 0
  return out;
}

std::array<std::byte, chunk_header_size + 6> encode_error_chunk(std::uint64_t cookie,
                                                               std::uint32_t error) noexcept {
  std::array<std::byte, chunk_header_size + 6> out{};
  store_be(out, 0, structured_reply_magic, 4);
  store_be(out, 4, reply_flag_done, 2);
  store_be(out, 6, chunk_error, 2);
  store_be(out, 8, cookie, 8);
  store_be(out, 16, 6, 4);
  store_be(out, 20, error, 4);
  // u16 message length stays 0
  return out;
}

}  // namespace aoe::nbd
