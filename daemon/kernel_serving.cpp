#include "daemon/kernel_serving.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/core.h>

#include "daemon/backend_id.h"
#include "daemon/etherd_link.h"
#include "daemon/udev_link.h"
#include "daemon/exit_codes.h"
#include "initiator/log.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57  // Linux 5.6
#endif

namespace aoe::daemon {

namespace {

// After every connection closed without a signal of ours, how long the
// kernel may take to drop a device disconnected from outside (the
// configuration goes once its receive workers let go, with no event to
// say so), re-checked at this interval.
constexpr int outside_disconnect_checks = 20;
constexpr auto outside_disconnect_interval = std::chrono::milliseconds(100);

class KernelServing {
 public:
  KernelServing(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                const Options& o, Readiness& readiness, Served& served, KernelDriver& driver)
      : io_(io), signals_(signals), target_(target), o_(o), readiness_(readiness), served_(served),
        driver_(driver), name_(target.target().name()), watchdog_(io) {}

  int run();

 private:
  bool make_sockets();
  void on_attached(std::error_code ec);
  void on_linked();
  void on_signal(int sig);
  void on_kernel_gone();
  void check_outside_disconnect(int checks_left);
  void disconnect_then_stop(int code);
  void stop(int code);

  boost::asio::io_context& io_;
  boost::asio::signal_set& signals_;
  AttachedTarget& target_;
  const Options& o_;
  Readiness& readiness_;
  Served& served_;
  KernelDriver& driver_;
  const std::string name_;
  nbd::AttachRequest request_;
  // The blocking kernel calls, in order, off the io thread.  Written there,
  // read here only after a posted completion.
  boost::asio::thread_pool kernel_{1};
  std::unique_ptr<KernelDevice> device_;
  std::string path_;  // of device_
  boost::asio::steady_timer watchdog_;
  // Keeps io_ running while the kernel thread works, whatever else is idle.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  bool stopping_ = false;
  bool link_ours_ = false;  // udev's link is udev's to remove
  int code_ = exit_ok;
};

bool KernelServing::make_sockets() {
  for (unsigned i = 0; i < o_.connections; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      readiness_.failed(exit_failed, fmt::format("socketpair: {}", std::strerror(errno)));
      for (int fd : request_.sockets) ::close(fd);
      return false;
    }
    target_.server().serve_transmission(sv[0]);
    request_.sockets.push_back(sv[1]);
  }
  return true;
}

int KernelServing::run() {
  if (!make_sockets()) {
    target_.stop([this] { io_.stop(); });
    io_.run();
    return exit_failed;
  }
  request_.size_bytes = target_.engine().size_bytes();
  request_.block_size = 512;
  request_.flags = target_.server().transmission_flags();
  request_.backend_id = backend_id(name_);
  request_.timeout_seconds = kernel_request_timeout(o_.deadline_seconds, o_.connections);
  request_.index = o_.device;

  // The kernel reads the device as soon as it is connected: the io thread
  // (this one) serves the sockets while the kernel thread attaches.
  work_.emplace(io_.get_executor());
  boost::asio::post(kernel_, [this] {
    std::error_code ec;
    device_ = driver_.attach(request_, ec);
    for (int fd : request_.sockets) ::close(fd);  // the kernel holds its own references
    boost::asio::post(io_, [this, ec] { on_attached(ec); });
  });
  io_.run();
  kernel_.join();
  if (device_) {
    if (link_ours_)
      if (auto ec = remove_etherd_link(name_, device_->index(), o_.etherd_dir))
        log::debug("{}: {}/{}: {}", name_, o_.etherd_dir.string(), name_, ec.message());
    log::notice("{}: detached from {}", name_, path_);
  }
  return code_;
}

void KernelServing::on_attached(std::error_code ec) {
  if (!device_) {
    int code = ec == nbd::attach_errc::module_missing      ? exit_no_nbd
               : ec == nbd::attach_errc::permission_denied ? exit_permission
                                                           : exit_failed;
    std::string hint = ec == nbd::attach_errc::module_missing
                           ? " (load it with `modprobe nbd`, or serve a socket with --socket PATH)"
                           : "";
    readiness_.failed(code, fmt::format("cannot attach {} to the kernel: {}{}", name_, ec.message(), hint));
    stop(code);
    return;
  }
  path_ = device_->path();
  served_.device = path_;
  // Resizing the kernel device waits for in-flight I/O, which this thread serves.
  target_.set_resize_listener([this](std::uint64_t size) {
    boost::asio::post(kernel_, [this, size] {
      if (auto rec = device_->resize(size))
        log::warning("{}: cannot resize {} to {} bytes: {}", name_, path_, size, rec.message());
      else
        log::notice("{}: {} resized to {} bytes", name_, path_, size);
    });
  });
  target_.start();
  target_.server().set_idle_listener([this] { on_kernel_gone(); });
  log::notice("{}: attached as {}", name_, path_);
  // udev names the device where it runs with our rule (fstab and systemd use
  // that name); waiting for it blocks, and this thread serves the device.
  readiness_.status(fmt::format("attached {} as {}; waiting for {}/{}", name_, path_, o_.etherd_dir.string(), name_));
  boost::asio::post(kernel_, [this] {
    const bool by_udev = o_.etherd_dir == etherd_dir && udev_will_name(device_->index(), request_.backend_id);
    auto link = make_etherd_link(name_, device_->index(), by_udev, o_.etherd_dir);
    if (link.error)
      log::warning("{}: cannot create {}/{}: {}", name_, o_.etherd_dir.string(), name_, link.error.message());
    boost::asio::post(io_, [this, ours = link.ours] {
      link_ours_ = ours;
      on_linked();
    });
  });
}

void KernelServing::on_linked() {
  if (stopping_) return;
  served_.ready = true;
  readiness_.ready(path_);
  signals_.async_wait([this](const boost::system::error_code& sec, int sig) {
    if (!sec) on_signal(sig);
  });
  // The kernel may have let go already (a socket that failed at once).
  if (target_.server().connection_count() == 0) on_kernel_gone();
}

void KernelServing::on_signal(int sig) {
  if (stopping_) return;
  stopping_ = true;
  log::notice("{}: signal {}: disconnecting {}", name_, sig, path_);
  readiness_.stopping("disconnecting " + path_);
  boost::asio::post(kernel_, [this] {
    if (auto dec = device_->disconnect()) log::warning("{}: disconnect {}: {}", name_, path_, dec.message());
    boost::asio::post(io_, [this] { stop(exit_ok); });
  });
}

// Every connection closed without a signal of ours: was the device
// disconnected from outside (nbd-client -d, or aoe-detach finding no status
// socket), or did the kernel declare the sockets dead (a request outlived
// its timeout)?  A netlink device disconnected from outside drops its
// configuration once the sockets are shut; dead sockets leave it configured.
// An ioctl device ends its NBD_DO_IT either way: no telling, assume the worst.
void KernelServing::on_kernel_gone() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  if (!device_->tells_outside_disconnect()) return disconnect_then_stop(exit_failed);
  check_outside_disconnect(outside_disconnect_checks);
}

void KernelServing::check_outside_disconnect(int checks_left) {
  boost::asio::post(kernel_, [this, checks_left] {
    std::error_code ec;
    const bool dropped = device_->status(ec) == nbd::DeviceStatus::disconnected && !ec;
    boost::asio::post(io_, [this, checks_left, dropped] {
      if (dropped) return stop(exit_ok);
      if (checks_left <= 1) return disconnect_then_stop(exit_failed);
      watchdog_.expires_after(outside_disconnect_interval);
      watchdog_.async_wait([this, checks_left](const boost::system::error_code& timer_ec) {
        if (!timer_ec) check_outside_disconnect(checks_left - 1);
      });
    });
  });
}

// Not a detach: I/O on the device fails from now on.  Free it (a dead
// configuration would pin /dev/nbdN) and say so with a failing exit, which
// systemd's Restart=on-failure answers by attaching again.
void KernelServing::disconnect_then_stop(int code) {
  log::error("{}: the kernel closed every NBD connection of {} (a request outlived its timeout of {} s, "
             "or a socket failed); disconnecting it", name_, path_, request_.timeout_seconds);
  boost::asio::post(kernel_, [this, code] {
    if (auto dec = device_->disconnect()) log::warning("{}: disconnect {}: {}", name_, path_, dec.message());
    boost::asio::post(io_, [this, code] { stop(code); });
  });
}

void KernelServing::stop(int code) {
  code_ = code;
  stopping_ = true;
  work_.reset();
  watchdog_.cancel();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  target_.server().set_idle_listener(nullptr);
  target_.stop([this] { io_.stop(); });
}

}  // namespace

void harden_for_kernel_io() {
  // PR_SET_IO_FLUSHER: our allocations never recurse into reclaim of our device.
  if (::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0)
    log::warning("prctl(PR_SET_IO_FLUSHER): {} (continuing; memory pressure may deadlock the device)",
                 std::strerror(errno));
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    log::warning("mlockall: {} (continuing; pages may be swapped out under pressure)", std::strerror(errno));
}

// One socket with timeout 0 never gives up, and our engine's deadline fails
// requests itself.  With several, the kernel times out at 30 s whatever we
// say and kills the socket: give it room above the deadline, as a request
// may wait in the bridge before its first frame is sent.  --deadline 0
// (retry forever) cannot hold there; aoe-attach refuses it.
std::uint64_t kernel_request_timeout(double deadline_seconds, unsigned connections) {
  if (connections <= 1) return 0;
  const auto deadline = static_cast<std::uint64_t>(std::ceil(deadline_seconds));
  return deadline + std::max<std::uint64_t>(deadline, 30);
}

int serve_kernel(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                 const Options& o, Readiness& readiness, Served& served, KernelDriver& driver) {
  KernelServing serving(io, signals, target, o, readiness, served, driver);
  return serving.run();
}

}  // namespace aoe::daemon
