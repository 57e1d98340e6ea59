// errors.h: every failure the initiator reports, as std::error_code (Beast style).
//
// One enum covers the three places an AoE I/O can fail: a received frame that
// does not decode, an AoE-level error response from the target (E flag), and
// the engine giving up.  Each value maps to a portable std::errc condition so
// callers (the NBD bridge) can turn any of them into an errno without a table.
#pragma once

#include <cstdint>
#include <system_error>

namespace aoe {

enum class errc {
  // --- decoding a received frame (never an exception, never an OOB read)
  frame_too_short = 1,     // fewer bytes than the header and its Arg need
  bad_ethertype,           // not 0x88A2
  bad_version,             // Ver nibble is not 1
  unknown_subcommand,      // CCmd, MCmd or RCmd outside the defined values
  unknown_command,         // Command is not 0..3 (vendor range included)
  bad_config_length,       // config string length > 1024 or beyond the frame
  bad_directive_count,     // MAC mask directive count runs past the frame
  bad_mac_count,           // reserve list count runs past the frame
  bad_data_length,         // ATA data shorter or longer than requested
  bad_identify,            // IDENTIFY block is not an ATA device's

  // --- AoE error responses (AoEr11 section 2.2), error code = value - base
  aoe_unrecognized_command = 101,  // 1
  aoe_bad_argument,                // 2
  aoe_device_unavailable,          // 3
  aoe_config_string_present,       // 4
  aoe_unsupported_version,         // 5
  aoe_target_reserved,             // 6
  aoe_unknown_error,               // 0 or > 6

  // --- ATA status reported ERR or DF
  ata_aborted = 201,       // ABRT: command not supported or refused
  ata_out_of_range,        // IDNF: LBA beyond the device
  ata_media_error,         // UNC, ICRC or any other ATA error

  // --- the engine
  target_down = 301,       // no answer within the deadline; fails fast until rediscovered
  not_aligned,             // offset or length not a multiple of 512
  out_of_range,            // past the end of the target
  request_too_large,       // more than the engine accepts in one request
  shutting_down,           // the engine is stopping
  no_path,                 // no usable path to the target
  timed_out,               // a control exchange got no answer
  interface_not_found,     // a named network interface does not exist
  permission_denied,       // raw sockets need CAP_NET_RAW
  late_copies_pending,     // a write over sectors a late copy may overwrite, past the memory kept for them
  abandoned,               // stopped before the target answered (EIO: its outcome is unknown)
};

const std::error_category& aoe_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), aoe_category()};
}

// Maps an AoE error code from a response header (1..6) to errc.
errc from_aoe_error(unsigned code) noexcept;

// Classifies an ATA response whose status has ERR or DF set by its error
// register (docs/aoe-protocol.md §3.4): IDNF first, as a drive reports ABRT along with it.
errc from_ata_error(std::uint8_t error_register) noexcept;

// The errno a block-device client should see (EIO, EINVAL, ENOSPC, ...).
int to_errno(std::error_code ec) noexcept;

}  // namespace aoe

template <>
struct std::is_error_code_enum<aoe::errc> : std::true_type {};
