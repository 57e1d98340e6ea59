// attach_types.h: what every mechanism of the kernel attach shares
// (kernel_attach.h is the facade; netlink.h and ioctl_attach.h the two
// kernel interfaces, device_usage.h the mount and holder checks): the error
// category, the request, the device states, and the device's names in /dev
// and sysfs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace aoe::nbd {

enum class attach_errc {
  module_missing = 1,   // neither the genl family "nbd" nor /dev/nbd0
  permission_denied,    // needs root (CAP_SYS_ADMIN)
  device_busy,          // the requested /dev/nbdN is already configured
  no_such_device,       // /dev/nbdN does not exist (ioctl interface)
  no_free_device,       // ioctl interface: every /dev/nbdN is in use
  not_connected,        // the device holds no connection
  bad_block_size,       // not a power of two in 512..4096
  bad_size,             // zero bytes
  no_sockets,           // an attach needs at least one socket
  netlink_failure,      // libnl failed (message in the log line of the caller)
};

const std::error_category& attach_category() noexcept;

inline std::error_code make_error_code(attach_errc e) noexcept {
  return {static_cast<int>(e), attach_category()};
}

// The kernel's errno as an error_code, EPERM/EACCES and EBUSY mapped to
// attach_errc so that callers can tell them apart portably.
std::error_code errno_code(int err) noexcept;

// Which kernel interface carries an attachment: generic netlink
// (docs/nbd-protocol.md §5.3) or the legacy ioctls (docs/nbd-protocol.md §5.2).
enum class AttachMechanism { netlink, ioctl };

struct AttachRequest {
  // Connected stream sockets whose other ends the server already serves in
  // transmission phase.  Not taken: the kernel holds its own references, so
  // the caller closes its copies once connect() returned.  More than one
  // needs NBD_FLAG_CAN_MULTI_CONN in `flags` (docs/nbd-protocol.md §5.4).
  std::vector<int> sockets;
  std::uint64_t size_bytes = 0;
  std::uint64_t block_size = 512;   // power of two, 512..4096 (docs/nbd-protocol.md §5.1)
  std::uint16_t flags = 0;          // transmission flags, Server::transmission_flags()
  std::optional<std::uint32_t> index;  // --device /dev/nbdN; else the kernel picks
  // Per-request timeout in seconds.  0 by default: the AoE engine enforces
  // its own deadline (failing with target_down), and with exactly one socket
  // and timeout 0 the kernel never gives up on a request, while any other
  // setting lets a slow target kill the socket (docs/nbd-protocol.md §5.5).
  std::uint64_t timeout_seconds = 0;
  // Seconds I/O waits for a replacement socket once all are dead (docs/nbd-protocol.md §5.3); 0: none.
  std::uint64_t dead_conn_timeout_seconds = 0;
  // Shown in /sys/block/nbdN/backend, e.g. "aoe-nbd:e1.2"; quoted again on resize.
  std::string backend_id;
  // Use the ioctl interface even when netlink is there (tests of the fallback).
  bool force_ioctl = false;
};

enum class DeviceStatus {
  missing,       // no /dev/nbdN
  disconnected,  // exists, holds no configuration
  connected,     // holds a configuration (an open by blkid also makes one: a hint, docs/nbd-protocol.md §5.3)
};

std::string device_path_of(std::uint32_t index);  // "/dev/nbdN"
std::filesystem::path sysfs_dir_of(std::uint32_t index);  // "/sys/block/nbdN"

// /sys/block/nbdN/pid exists while the device runs (created when it starts,
// removed with its configuration).
bool sysfs_running(std::uint32_t index);

}  // namespace aoe::nbd

template <>
struct std::is_error_code_enum<aoe::nbd::attach_errc> : std::true_type {};
