// ioctl_attach.h: the nbd driver's legacy ioctl interface (doc nbd-protocol
// §5.2), for kernels without its generic netlink family: a thread sets the
// device up and stays parked in NBD_DO_IT for the device's lifetime.
// Internal to the kernel attach (kernel_attach.h is the public face).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "nbd-bridge/attach_types.h"

namespace aoe::nbd {

class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd();
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

Fd open_device(std::uint32_t index, std::error_code& ec);

// The first /dev/nbdN that is not running (old kernels have no netlink to ask).
std::optional<std::uint32_t> free_ioctl_device();

// Sends DISC on every socket, then shuts them down so NBD_DO_IT returns even
// if the server does not close (nbd-client -d does the same pair).
std::error_code ioctl_disconnect(int fd);

// The thread that sets up an ioctl device and then stays in NBD_DO_IT.  The
// kernel only accepts NBD_SET_SOCK from the task that set the device up, so
// the whole sequence runs on this one thread.
class IoctlThread {
 public:
  // Sets /dev/nbd`index` up with the request's sockets on a new thread and
  // waits until it runs; nothing (with ec) if it did not start.
  static std::unique_ptr<IoctlThread> start(std::uint32_t index, const AttachRequest& request,
                                            std::error_code& ec);
  ~IoctlThread() { stop(); }

  std::error_code resize(std::uint64_t size_bytes);
  // Disconnects the device if it runs and joins the thread.
  void stop();

 private:
  enum class Phase { setup, running, ended };
  IoctlThread() = default;
  void finish(Phase p, std::error_code ec);
  void run(AttachRequest r);
  std::error_code wait_started(std::uint32_t index);

  Fd device_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Phase phase_ = Phase::setup;
  std::error_code result_;  // a setup failure, or how NBD_DO_IT ended
};

}  // namespace aoe::nbd
