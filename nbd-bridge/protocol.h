// protocol.h: the NBD wire format, pure (no I/O, no Asio; the fuzzers build it
// with clang).  docs/nbd-protocol.md §1-§3; names follow the spec minus the prefix.
//
// Handshake: parse_option_header + answer_option turn one client option into
// the bytes to send and what happens next, so the session only moves bytes.
// Transmission: parse_request + validate_request decide every request before
// the backend sees it (nbdkit-strict), and the encoders build the replies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace aoe::nbd {

// --- magics
inline constexpr std::uint64_t nbd_magic = 0x4e42444d41474943;       // "NBDMAGIC"
inline constexpr std::uint64_t opt_magic = 0x49484156454F5054;       // "IHAVEOPT"
inline constexpr std::uint64_t rep_magic = 0x0003e889045565a9;       // option reply
inline constexpr std::uint32_t request_magic = 0x25609513;
inline constexpr std::uint32_t ext_request_magic = 0x21e41c71;       // never negotiated
inline constexpr std::uint32_t simple_reply_magic = 0x67446698;
inline constexpr std::uint32_t structured_reply_magic = 0x668e33ef;

// --- handshake flags (server) and client flags share the bit values
inline constexpr std::uint16_t flag_fixed_newstyle = 1 << 0;
inline constexpr std::uint16_t flag_no_zeroes = 1 << 1;
inline constexpr std::uint16_t handshake_flags = flag_fixed_newstyle | flag_no_zeroes;

// --- options
enum Option : std::uint32_t {
  opt_export_name = 1,
  opt_abort = 2,
  opt_list = 3,
  opt_peek_export = 4,
  opt_starttls = 5,
  opt_info = 6,
  opt_go = 7,
  opt_structured_reply = 8,
  opt_list_meta_context = 9,
  opt_set_meta_context = 10,
  opt_extended_headers = 11,
};

// --- option reply types
enum Reply : std::uint32_t {
  rep_ack = 1,
  rep_server = 2,
  rep_info = 3,
  rep_meta_context = 4,
  rep_err_unsup = 0x80000001,
  rep_err_policy = 0x80000002,
  rep_err_invalid = 0x80000003,
  rep_err_platform = 0x80000004,
  rep_err_tls_reqd = 0x80000005,
  rep_err_unknown = 0x80000006,
  rep_err_shutdown = 0x80000007,
  rep_err_block_size_reqd = 0x80000008,
  rep_err_too_big = 0x80000009,
};

// --- NBD_REP_INFO types
enum InfoType : std::uint16_t {
  info_export = 0,
  info_name = 1,
  info_description = 2,
  info_block_size = 3,
};

// --- transmission flags
inline constexpr std::uint16_t tflag_has_flags = 1 << 0;
inline constexpr std::uint16_t tflag_read_only = 1 << 1;
inline constexpr std::uint16_t tflag_send_flush = 1 << 2;
inline constexpr std::uint16_t tflag_send_fua = 1 << 3;
inline constexpr std::uint16_t tflag_rotational = 1 << 4;
inline constexpr std::uint16_t tflag_send_trim = 1 << 5;
inline constexpr std::uint16_t tflag_send_write_zeroes = 1 << 6;
inline constexpr std::uint16_t tflag_send_df = 1 << 7;
inline constexpr std::uint16_t tflag_can_multi_conn = 1 << 8;
inline constexpr std::uint16_t tflag_send_cache = 1 << 10;
inline constexpr std::uint16_t tflag_send_fast_zero = 1 << 11;

// --- commands and command flags
enum Command : std::uint16_t {
  cmd_read = 0,
  cmd_write = 1,
  cmd_disc = 2,
  cmd_flush = 3,
  cmd_trim = 4,
  cmd_cache = 5,
  cmd_write_zeroes = 6,
  cmd_block_status = 7,
};
inline constexpr std::uint16_t cmd_flag_fua = 1 << 0;
inline constexpr std::uint16_t cmd_flag_no_hole = 1 << 1;
inline constexpr std::uint16_t cmd_flag_df = 1 << 2;
inline constexpr std::uint16_t cmd_flag_req_one = 1 << 3;
inline constexpr std::uint16_t cmd_flag_fast_zero = 1 << 4;

// --- structured reply chunks
inline constexpr std::uint16_t reply_flag_done = 1 << 0;
inline constexpr std::uint16_t chunk_offset_data = 1;
inline constexpr std::uint16_t chunk_error = (1 << 15) + 1;

// --- error values on the wire (never raw host errno, docs/nbd-protocol.md §3.3)
inline constexpr std::uint32_t err_perm = 1;
inline constexpr std::uint32_t err_io = 5;
inline constexpr std::uint32_t err_nomem = 12;
inline constexpr std::uint32_t err_inval = 22;
inline constexpr std::uint32_t err_nospc = 28;
inline constexpr std::uint32_t err_overflow = 75;
inline constexpr std::uint32_t err_notsup = 95;
inline constexpr std::uint32_t err_shutdown = 108;

// Maps a host errno (aoe::to_errno's output) to its NBD error value.
std::uint32_t errno_to_nbd(int host_errno) noexcept;

// --- sizes and limits
inline constexpr std::size_t greeting_size = 18;
inline constexpr std::size_t option_header_size = 16;
inline constexpr std::size_t request_header_size = 28;
inline constexpr std::size_t simple_reply_size = 16;
inline constexpr std::size_t chunk_header_size = 20;
inline constexpr std::uint32_t max_option_length = 64u << 20;  // more ⇒ close (nbdkit)
inline constexpr unsigned max_options = 32;                    // more ⇒ close (nbdkit)
inline constexpr std::uint32_t max_string = 4096;              // spec MUST for strings
// READ/WRITE length: the maximum we advertise in INFO_BLOCK_SIZE, and the
// most we accept from any client (one that selected the export with
// EXPORT_NAME never learns our maximum; nbd-tester-client sends 49 MiB).
// Above the first the bridge splits the request (nbd-bridge/block_adapter.h)
// and its buffer comes from outside the pool's budget (nbd-bridge/buffer.h);
// above the second it is answered EINVAL.
inline constexpr std::uint32_t max_payload = 32u << 20;
inline constexpr std::uint32_t max_accepted_payload = 64u << 20;
inline constexpr std::uint32_t min_block_size = 512;
inline constexpr std::uint32_t preferred_block_size = 4096;
// GO/INFO data we buffer: a maximal name and 1024 request codes; more ⇒ ERR_INVALID.
inline constexpr std::uint32_t max_info_request = 4 + max_string + 2 + 2 * 1024;

std::array<std::byte, greeting_size> encode_greeting() noexcept;

// False ⇒ the server must drop the connection (unknown or unoffered bits).
constexpr bool client_flags_ok(std::uint32_t flags) noexcept {
  return (flags & ~std::uint32_t{handshake_flags}) == 0;
}

enum class Parse { ok, need_more, bad_magic, too_long };

struct OptionHeader {
  std::uint32_t option = 0;
  std::uint32_t length = 0;  // of the data that follows
};

// Needs option_header_size bytes; bad_magic and too_long ⇒ hard disconnect.
Parse parse_option_header(std::span<const std::byte> in, OptionHeader& out) noexcept;

// Whether the session should buffer this option's data for answer_option
// (otherwise it discards it unread and passes an empty span).
bool option_wants_data(const OptionHeader& header) noexcept;

struct InfoRequest {
  std::string_view name;
  std::vector<std::uint16_t> requests;  // information types asked for
};

// GO/INFO data: 4+N+2+2k == L exactly, else false (⇒ ERR_INVALID).
bool parse_info_request(std::span<const std::byte> data, InfoRequest& out);

// What the export looks like to the handshake.
struct ExportInfo {
  std::string_view name;
  std::string_view description;
  std::uint64_t size = 0;
  std::uint16_t transmission_flags = 0;
};

struct HandshakeState {
  std::uint32_t client_flags = 0;
  unsigned options_seen = 0;
  bool structured_replies = false;
};

enum class Next { more_options, transmission, close };

struct OptionOutcome {
  Next next = Next::more_options;
  std::vector<std::byte> reply;  // bytes to send before acting on `next`
};

// Answers one option.  `data` is the option's data if option_wants_data said
// so and it was read in full; otherwise empty.  Counts options in `state`.
OptionOutcome answer_option(const OptionHeader& header, std::span<const std::byte> data,
                            const ExportInfo& export_info, HandshakeState& state);

// Answers one option while the server shuts down (docs/nbd-protocol.md §1.2): ERR_SHUTDOWN,
// after which the client should ABORT; ABORT itself is acknowledged and
// closes, and EXPORT_NAME, which cannot carry an error, closes.
OptionOutcome answer_option_shutting_down(const OptionHeader& header);

// Option reply encoders (header + data appended to `out`).
void append_option_reply(std::vector<std::byte>& out, std::uint32_t option, std::uint32_t type,
                         std::span<const std::byte> data = {});
void append_info_export(std::vector<std::byte>& out, std::uint32_t option, std::uint64_t size,
                        std::uint16_t flags);
void append_info_string(std::vector<std::byte>& out, std::uint32_t option, InfoType type,
                        std::string_view text);
void append_info_block_size(std::vector<std::byte>& out, std::uint32_t option);

// --- transmission

struct TransmissionRequest {
  std::uint16_t flags = 0;
  std::uint16_t type = 0;
  std::uint64_t cookie = 0;
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
};

// Needs request_header_size bytes; bad_magic (extended-header magic included,
// we never negotiate it) ⇒ hard disconnect.
Parse parse_request(std::span<const std::byte> in, TransmissionRequest& out) noexcept;

struct ExportLimits {
  std::uint64_t size = 0;
  std::uint16_t transmission_flags = 0;
  // Writes, trims and write-zeroes fail with EPERM though the export is not
  // read-only (Server::set_writes_refused): reads and flushes still run.
  bool writes_refused = false;
};

// 0 when the request may run, else the NBD error to reply with (DISC is the
// session's business and never reaches here).  Zero-length requests in range
// are valid: the session answers them without touching the backend.
std::uint32_t validate_request(const TransmissionRequest& request, const ExportLimits& limits) noexcept;

// Whether the request carries a payload the session must read (or drain).
constexpr bool has_payload(const TransmissionRequest& r) noexcept { return r.type == cmd_write; }

std::array<std::byte, simple_reply_size> encode_simple_reply(std::uint64_t cookie,
                                                             std::uint32_t error) noexcept;
// Header of an OFFSET_DATA chunk carrying `length` data bytes (DONE set);
// the data follows it.
std::array<std::byte, chunk_header_size + 8> encode_offset_data_header(std::uint64_t cookie,
                                                                      std::uint64_t offset,
                                                                      std::uint32_t length) noexcept;
// A complete NONE chunk (DONE set): success without content.
std::array<std::byte, chunk_header_size> encode_none_chunk(std::uint64_t cookie) noexcept;
// A complete ERROR chunk without message (DONE set).
std::array<std::byte, chunk_header_size + 6> encode_error_chunk(std::uint64_t cookie,
                                                               std::uint32_t error) noexcept;

}  // namespace aoe::nbd
