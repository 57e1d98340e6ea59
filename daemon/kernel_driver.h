// kernel_driver.h: the kernel's nbd driver as kernel serving uses it: attach
// sockets as a device, resize it, disconnect it, ask its state.  Every call
// may block (netlink, ioctl), so kernel_serving.cpp makes them on a thread
// of their own.  The real driver is nbd-bridge/kernel_attach.h; unit tests
// put a fake kernel side in its place.
#pragma once

#include <cstdint>
#include <memory>
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
};

class KernelDriver {
 public:
  virtual ~KernelDriver() = default;
  // Attaches the request's sockets; null with ec (nbd::attach_errc where
  // the cause is known) when it cannot.  The caller closes the sockets.
  virtual std::unique_ptr<KernelDevice> attach(const nbd::AttachRequest& request, std::error_code& ec) = 0;
};

// The kernel's own nbd driver (nbd-bridge/kernel_attach.h).
KernelDriver& nbd_driver();

}  // namespace aoe::daemon
