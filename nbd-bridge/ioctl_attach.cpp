// ioctl_attach.cpp: nbd-client's ioctl sequence (docs/nbd-protocol.md §5.2).
#include "nbd-bridge/ioctl_attach.h"

#include <cerrno>
#include <chrono>

#include <fcntl.h>
#include <linux/nbd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/log.h"

namespace aoe::nbd {

namespace {

// How long start() waits for the device to come up (its
// /sys/block/nbdN/pid appears once NBD_DO_IT started it).
constexpr auto ioctl_start_timeout = std::chrono::seconds(5);

std::error_code nbd_ioctl(int fd, unsigned long request, unsigned long arg = 0) {
  return ::ioctl(fd, request, arg) < 0 ? errno_code(errno) : std::error_code{};
}

}  // namespace

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd open_device(std::uint32_t index, std::error_code& ec) {
  Fd fd(::open(device_path_of(index).c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0)
    ec = errno == ENOENT || errno == ENXIO ? attach_errc::no_such_device : errno_code(errno);
  return fd;
}

std::optional<std::uint32_t> free_ioctl_device() {
  for (std::uint32_t i = 0;; ++i) {
    std::error_code ignored;
    if (!std::filesystem::exists(sysfs_dir_of(i), ignored)) return std::nullopt;
    if (!sysfs_running(i)) return i;
  }
}

std::error_code ioctl_disconnect(int fd) {
  if (auto ec = nbd_ioctl(fd, NBD_DISCONNECT)) return ec;
  return nbd_ioctl(fd, NBD_CLEAR_SOCK);
}

std::unique_ptr<IoctlThread> IoctlThread::start(std::uint32_t index, const AttachRequest& request,
                                                std::error_code& ec) {
  std::unique_ptr<IoctlThread> t(new IoctlThread);
  t->device_ = open_device(index, ec);
  if (ec) return nullptr;
  t->thread_ = std::thread(&IoctlThread::run, t.get(), request);
  if ((ec = t->wait_started(index))) {
    t->stop();
    return nullptr;
  }
  return t;
}

void IoctlThread::finish(Phase p, std::error_code ec) {
  std::lock_guard lock(mutex_);
  phase_ = p;
  result_ = ec;
  changed_.notify_all();
}

// nbd-client's order (docs/nbd-protocol.md §5.2): sizes, clear, flags, timeout, sockets, DO_IT.
void IoctlThread::run(AttachRequest r) {
  const int fd = device_.get();
  std::error_code ec = nbd_ioctl(fd, NBD_SET_BLKSIZE, r.block_size);
  if (!ec) ec = nbd_ioctl(fd, NBD_SET_SIZE, r.size_bytes);
  if (!ec) ec = nbd_ioctl(fd, NBD_CLEAR_SOCK);
  // Only from here on are the sockets ours to clear: CLEAR_SOCK on a device
  // someone else runs (even a netlink one, which refuses the size ioctls
  // above but not this one) would shut down their sockets.
  const bool ours = !ec;
  if (!ec) ec = nbd_ioctl(fd, NBD_SET_FLAGS, r.flags);
  if (!ec) ec = nbd_ioctl(fd, NBD_SET_TIMEOUT, r.timeout_seconds);
  for (int s : r.sockets)
    if (!ec) ec = nbd_ioctl(fd, NBD_SET_SOCK, static_cast<unsigned long>(s));
  if (ec) {
    if (ours) nbd_ioctl(fd, NBD_CLEAR_SOCK);
    finish(Phase::ended, ec);
    return;
  }
  finish(Phase::running, {});
  // Blocks until the device is disconnected or its socket dies.
  std::error_code done = nbd_ioctl(fd, NBD_DO_IT);
  nbd_ioctl(fd, NBD_CLEAR_SOCK);  // fails whatever is left (docs/nbd-protocol.md §5.2)
  finish(Phase::ended, done);
}

// Waits for the setup, then until the device runs or NBD_DO_IT failed.  The
// kernel announces a running device only in sysfs: a bounded wait re-checks it.
std::error_code IoctlThread::wait_started(std::uint32_t index) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return phase_ != Phase::setup; });
  const auto deadline = std::chrono::steady_clock::now() + ioctl_start_timeout;
  while (phase_ == Phase::running && !sysfs_running(index)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::make_error_code(std::errc::timed_out);
    changed_.wait_for(lock, std::chrono::milliseconds(10));
  }
  return phase_ == Phase::ended ? (result_ ? result_ : attach_errc::not_connected) : std::error_code{};
}

std::error_code IoctlThread::resize(std::uint64_t size_bytes) {
  return nbd_ioctl(device_.get(), NBD_SET_SIZE, size_bytes);
}

void IoctlThread::stop() {
  if (!thread_.joinable()) return;
  bool running = false;
  {
    std::lock_guard lock(mutex_);
    running = phase_ == Phase::running;
  }
  if (running) {
    if (auto ec = ioctl_disconnect(device_.get()))
      log::warning("nbd: disconnecting the ioctl device: {}", ec.message());
  }
  thread_.join();
}

}  // namespace aoe::nbd
