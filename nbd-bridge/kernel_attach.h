// kernel_attach.h: hands connected NBD sockets to the kernel's nbd driver,
// which turns them into /dev/nbdN (doc nbd-protocol §5).
//
// The generic netlink family "nbd" is the interface (§5.3); kernels without
// it (but with /dev/nbd0) get the legacy ioctls, where a dedicated thread
// stays parked in NBD_DO_IT for the device's lifetime (§5.2).
//
// The kernel reads the device (partition scan) as soon as it is connected,
// so the NBD server must already be serving the sockets on another thread
// before connect() is called (§5.2, §5.3).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  not_a_target_name,    // not "eS.L"
  not_our_link,         // /dev/etherd/eS.L is not a link to the expected device
  netlink_failure,      // libnl failed (message in the log line of the caller)
};

const std::error_category& attach_category() noexcept;

inline std::error_code make_error_code(attach_errc e) noexcept {
  return {static_cast<int>(e), attach_category()};
}

// Which kernel interface carries an attachment.
enum class Interface { netlink, ioctl };

struct AttachRequest {
  // Connected stream sockets whose other ends the server already serves in
  // transmission phase.  Not taken: the kernel holds its own references, so
  // the caller closes its copies once connect() returned.  More than one
  // needs NBD_FLAG_CAN_MULTI_CONN in `flags` (§5.4).
  std::vector<int> sockets;
  std::uint64_t size_bytes = 0;
  std::uint64_t block_size = 512;   // power of two, 512..4096 (§5.1)
  std::uint16_t flags = 0;          // transmission flags, Server::transmission_flags()
  std::optional<std::uint32_t> index;  // --device /dev/nbdN; else the kernel picks
  // Per-request timeout in seconds.  0 by default: the AoE engine enforces
  // its own deadline (failing with target_down), and with exactly one socket
  // and timeout 0 the kernel never gives up on a request, while any other
  // setting lets a slow target kill the socket (§5.5).
  std::uint64_t timeout_seconds = 0;
  // Seconds I/O waits for a replacement socket once all are dead (§5.3); 0: none.
  std::uint64_t dead_conn_timeout_seconds = 0;
  // Shown in /sys/block/nbdN/backend, e.g. "aoe-nbd:e1.2"; quoted again on resize.
  std::string backend_id;
  // Use the ioctl interface even when netlink is there (tests of the fallback).
  bool force_ioctl = false;
};

// A connected /dev/nbdN.  A netlink attachment lives in the kernel until
// disconnected: destroying this object leaves the device alone.  An ioctl
// attachment owns the thread parked in NBD_DO_IT: the destructor disconnects
// the device and joins that thread.
class Attachment {
 public:
  Attachment(Attachment&&) noexcept;
  Attachment& operator=(Attachment&&) noexcept;
  ~Attachment();

  std::uint32_t index() const noexcept { return index_; }
  Interface interface() const noexcept { return interface_; }
  std::string device_path() const;  // "/dev/nbdN"

  // Changes the size of the live device.  Freezes the device's queue until
  // every in-flight request completed (§5.3): never call it from the thread
  // that serves the sockets.
  std::error_code resize(std::uint64_t size_bytes);

  // Sends DISC on every socket and waits until the kernel let go of them
  // (ioctl: until the NBD_DO_IT thread returned).
  std::error_code disconnect();

 private:
  struct IoctlThread;
  friend std::optional<Attachment> connect(const AttachRequest&, std::error_code&);
  Attachment(std::uint32_t index, Interface interface, std::string backend_id,
             std::unique_ptr<IoctlThread> ioctl);

  std::uint32_t index_;
  Interface interface_;
  std::string backend_id_;              // quoted on RECONFIGURE (§5.3)
  std::unique_ptr<IoctlThread> ioctl_;  // ioctl interface only
};

// Attaches the sockets as a /dev/nbdN; on failure returns nothing and sets ec
// (attach_errc where the cause is known, else the kernel's errno).
std::optional<Attachment> connect(const AttachRequest& request, std::error_code& ec);

// Disconnects /dev/nbdN whoever attached it (genl DISCONNECT, else the
// NBD_DISCONNECT ioctl).  Returns at once; poll status() to see it end.
std::error_code disconnect(std::uint32_t index);

enum class DeviceStatus {
  missing,       // no /dev/nbdN
  disconnected,  // exists, holds no configuration
  connected,     // holds a configuration (an open by blkid also makes one: a hint, §5.3)
};
DeviceStatus status(std::uint32_t index, std::error_code& ec);

// Why /dev/nbdN must not be disconnected now ("mounted on /mnt", "held by
// dm-0", "opened exclusively"), or nothing.  A disconnect under a mounted
// file system fails its outstanding writes.  A plain open() by a program
// leaves no trace here; only exclusive openers, mounts and holders do.
std::optional<std::string> in_use(std::uint32_t index);

// "/dev/nbd7" or "nbd7" -> 7.
std::optional<std::uint32_t> parse_device_path(std::string_view path) noexcept;

// Stable names /dev/etherd/eS.L -> /dev/nbdN, like the aoe driver's nodes.
inline const std::filesystem::path etherd_dir = "/dev/etherd";

// Creates the directory if needed and replaces whatever link was there.
std::error_code create_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir = etherd_dir);
// Removes the link only if it still points to /dev/nbd`index`; a missing
// link is not an error, another device's link is (attach_errc::not_our_link).
std::error_code remove_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir = etherd_dir);
// The nbd index /dev/etherd/eS.L points to.
std::optional<std::uint32_t> resolve_etherd_link(std::string_view target, std::error_code& ec,
                                                 const std::filesystem::path& dir = etherd_dir);

}  // namespace aoe::nbd

template <>
struct std::is_error_code_enum<aoe::nbd::attach_errc> : std::true_type {};
