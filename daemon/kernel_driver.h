// kernel_driver.h: the kernel's nbd driver as kernel serving uses it: attach
// sockets as a device, resize it, disconnect it, ask its state.  Every call
// may block (netlink, ioctl), so kernel_serving.cpp makes them on a thread
// of their own.  The real driver is nbd-bridge/kernel_attach.h; unit tests
// put a fake kernel side in its place.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "nbd-bridge/attach_types.h"

namespace aoe::daemon {

// One attached /dev/nbdN.
class KernelDevice {
 public:
  virtual ~KernelDevice() = default;
  virtual std::uint32_t index() const = 0;
  virtual std::string path() const = 0;
  // Whether status() can tell a disconnect from outside from sockets the
  // kernel declared dead (netlink: the first drops the configuration; an
  // ioctl device ends the same way for both).
  virtual bool tells_outside_disconnect() const = 0;
  virtual std::error_code resize(std::uint64_t size_bytes) = 0;
  virtual std::error_code disconnect() = 0;
  virtual nbd::DeviceStatus status(std::error_code& ec) = 0;
  // Whether the next aoe-attach can adopt the device once we are gone
  // (netlink: the kernel holds its I/O for a successor).
  virtual bool adoptable() const { return false; }
  // Why a disconnect would hurt now ("mounted on /mnt"...), or nothing.
  virtual std::optional<std::string> in_use() { return std::nullopt; }
  // Renews the request and dead-connection timeouts of an adopted device.
  virtual std::error_code set_timeouts(std::uint64_t /*request_seconds*/, std::uint64_t /*dead_conn_seconds*/) {
    return {};
  }
};

class KernelDriver {
 public:
  virtual ~KernelDriver() = default;
  // Attaches the request's sockets; null with ec (nbd::attach_errc where
  // the cause is known) when it cannot.  The caller closes the sockets.
  virtual std::unique_ptr<KernelDevice> attach(const nbd::AttachRequest& request, std::error_code& ec) = 0;
  // The configured device whose backend identifier is `backend_id`, whether
  // anyone serves it or not.
  virtual std::optional<std::uint32_t> find_backend(const std::string& /*backend_id*/) { return std::nullopt; }
  // Hands the request's sockets to device `index` in place of its dead
  // connections (nbd::adopt: the caller closes them, then sees which the
  // kernel kept); nbd::attach_errc::module_missing where it cannot be done.
  virtual std::unique_ptr<KernelDevice> adopt(std::uint32_t /*index*/, const nbd::AttachRequest& /*request*/,
                                              std::error_code& ec) {
    ec = nbd::attach_errc::module_missing;
    return nullptr;
  }
  // Disconnects device `index`, which nobody serves: the kernel fails the
  // I/O it held for a successor.
  virtual std::error_code disconnect(std::uint32_t index) = 0;
};

// The kernel's own nbd driver (nbd-bridge/kernel_attach.h).
KernelDriver& nbd_driver();

}  // namespace aoe::daemon
