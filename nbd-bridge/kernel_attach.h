// kernel_attach.h: hands connected NBD sockets to the kernel's nbd driver,
// which turns them into /dev/nbdN (docs/nbd-protocol.md §5).
//
// The generic netlink family "nbd" is the interface (docs/nbd-protocol.md §5.3, netlink.h);
// kernels without it (but with /dev/nbd0) get the legacy ioctls, where a
// dedicated thread stays parked in NBD_DO_IT for the device's lifetime
// (docs/nbd-protocol.md §5.2, ioctl_attach.h).  Shared types are in attach_types.h.
//
// The kernel reads the device (partition scan) as soon as it is connected,
// so the NBD server must already be serving the sockets on another thread
// before connect() is called (docs/nbd-protocol.md §5.2, §5.3).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nbd-bridge/attach_types.h"

namespace aoe::nbd {

class IoctlThread;

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
  AttachMechanism mechanism() const noexcept { return mechanism_; }
  std::string device_path() const;  // "/dev/nbdN"

  // Changes the size of the live device.  Freezes the device's queue until
  // every in-flight request completed (docs/nbd-protocol.md §5.3): never call it from the thread
  // that serves the sockets.
  std::error_code resize(std::uint64_t size_bytes);

  // Renews the request and dead-connection timeouts (AttachRequest);
  // netlink only.
  std::error_code set_timeouts(std::uint64_t request_seconds, std::uint64_t dead_conn_seconds);

  // Sends DISC on every socket and waits until the kernel let go of them
  // (ioctl: until the NBD_DO_IT thread returned).
  std::error_code disconnect();

 private:
  friend std::optional<Attachment> connect(const AttachRequest&, std::error_code&);
  friend std::optional<Attachment> adopt(std::uint32_t, const AttachRequest&, std::error_code&);
  Attachment(std::uint32_t index, AttachMechanism mechanism, std::string backend_id,
             std::unique_ptr<IoctlThread> ioctl);

  std::uint32_t index_;
  AttachMechanism mechanism_;
  std::string backend_id_;              // quoted on RECONFIGURE (docs/nbd-protocol.md §5.3)
  std::unique_ptr<IoctlThread> ioctl_;  // ioctl interface only
};

// Attaches the sockets as a /dev/nbdN; on failure returns nothing and sets ec
// (attach_errc where the cause is known, else the kernel's errno).
std::optional<Attachment> connect(const AttachRequest& request, std::error_code& ec);

// Every /dev/nbdN holding a configuration with a backend identifier
// (/sys/block/nbdN/backend: netlink attachments only), live or not.
struct Backend {
  std::uint32_t index = 0;
  std::string id;
};
std::vector<Backend> backends();
// The one whose identifier is `backend_id`.
std::optional<std::uint32_t> find_backend(std::string_view backend_id);

// Gives request.sockets to the configured netlink device `index` in place
// of its dead connections (NBD_CMD_RECONFIGURE, docs/nbd-protocol.md §5.3); everything else
// stays.  The kernel resends the requests it held on them at once; they
// wait in the sockets until served.  It silently drops a socket for which
// no connection is dead: close your copies, ask kernel_holds() about the
// other ends, and only then set_timeouts() (on a device someone else
// serves, that would change theirs).  attach_errc::module_missing without
// netlink (a network namespace), and then nothing was sent.
std::optional<Attachment> adopt(std::uint32_t index, const AttachRequest& request, std::error_code& ec);

// After the caller closed its copy of the kernel's end: false once the
// kernel dropped that end too (`peer` is the other end of the socketpair).
bool kernel_holds(int peer);

// Disconnects /dev/nbdN whoever attached it (genl DISCONNECT, else the
// NBD_DISCONNECT ioctl).  Returns at once; poll status() to see it end.
std::error_code disconnect(std::uint32_t index);

DeviceStatus status(std::uint32_t index, std::error_code& ec);

// "/dev/nbd7" or "nbd7" -> 7.
std::optional<std::uint32_t> parse_device_path(std::string_view path) noexcept;

}  // namespace aoe::nbd
