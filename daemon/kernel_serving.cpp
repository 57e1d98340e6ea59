#include "daemon/kernel_serving.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/core.h>

#include "daemon/backend_id.h"
#include "daemon/disk_record.h"
#include "daemon/etherd_link.h"
#include "daemon/ready_link.h"
#include "daemon/udev_link.h"
#include "daemon/exit_codes.h"
#include "base/log.h"
#include "nbd-bridge/kernel_attach.h"

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

// A planned handover (SIGTERM leaving a device in use to the next
// aoe-attach).  A request the kernel sent on a connection that then dies is
// resent only once its own request timeout expires (deadline + 30 s or
// more, kernel_request_timeout), while one it tries to send after the
// connection closed is requeued for the successor at once.  So we close at
// a quiet moment: no request read and unanswered, none partly read, no
// byte waiting in a socket (nbd::Server::quiet), checked and the sockets
// shut for receiving in one step on the io thread, serving on as usual
// until then.  From the shutdown on, the kernel's sends fail and it
// requeues them; a request it sent in the microseconds before is still
// read and answered (nbd::Session::shutdown).  Only if the kernel tries
// another send before that answer is out does it drop the connection, and
// that one request waits for its timeout ("replies undelivered" in the
// log).  A device busy for longer than handover_quiet_wait without a pause
// is closed anyway, as after a crash.  Checking more often than
// handover_quiet_poll finds shorter pauses (a QD1 reader's, between a
// reply and its next request) at more CPU.
constexpr auto handover_quiet_wait = std::chrono::seconds(2);
constexpr auto handover_quiet_poll = std::chrono::microseconds(500);

class KernelServing : KernelServingParts {
 public:
  KernelServing(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                const Options& o, Readiness& readiness, Served& served, KernelDriver& driver)
      : KernelServingParts{io, signals, target, o, readiness, served, target.target().name()},
        driver_(driver), watchdog_(io),
        link_(io, kernel_, readiness, served, name_, o.etherd_dir) {}

  int run();

 private:
  bool make_sockets();
  void attach();
  void adopt(std::uint32_t index);
  void refuse_adoption(std::uint32_t index, const std::string& why);
  void on_adopted(std::error_code ec, std::vector<int> taken, std::uint64_t held, bool resize);
  void on_attached(std::error_code ec);
  void serving();
  void resize_device(std::uint64_t size);
  void wait_signals();
  void on_signal(int sig);
  void hand_over_when_quiet(std::chrono::steady_clock::time_point until);
  void on_kernel_gone();
  void check_outside_disconnect(int checks_left);
  void disconnect_then_stop(int code);
  void stop(int code);

  KernelDriver& driver_;
  nbd::AttachRequest request_;
  std::vector<int> ours_;  // our ends of request_.sockets, until served
  // The blocking kernel calls, in order, off the io thread.  Written there,
  // read here only after a posted completion.
  boost::asio::thread_pool kernel_{1};
  std::unique_ptr<KernelDevice> device_;
  std::string path_;  // of device_
  boost::asio::steady_timer watchdog_;
  ReadyLink link_;
  // Keeps io_ running while the kernel thread works, whatever else is idle.
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  bool stopping_ = false;
  bool stopped_ = false;  // stop() was called
  bool hurry_ = false;    // the stop must end within seconds (AttachedTarget::hurry)
  int code_ = exit_ok;
};

bool KernelServing::make_sockets() {
  for (unsigned i = 0; i < o_.connections; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      readiness_.failed(exit_failed, fmt::format("socketpair: {}", std::strerror(errno)));
      for (int fd : request_.sockets) ::close(fd);
      for (int fd : ours_) ::close(fd);
      return false;
    }
    ours_.push_back(sv[0]);
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
  request_.timeout_seconds = kernel_request_timeout(o_.deadline_seconds, o_.connections, o_.reconnect_timeout_seconds);
  request_.dead_conn_timeout_seconds = o_.reconnect_timeout_seconds;
  request_.index = o_.device;

  work_.emplace(io_.get_executor());
  // A device of this target whose aoe-attach is gone (a crash, a restart):
  // no other aoe-attach answers for the target here (lifecycle.cpp made
  // sure), so its connections are dead and the kernel holds its I/O for us.
  const auto orphan = o_.reconnect_timeout_seconds ? driver_.find_backend(request_.backend_id) : std::nullopt;
  if (orphan && (!request_.index || *request_.index == *orphan)) {
    // Its held writes go only to the disk they were meant for.
    if (auto why = check_adoption(name_, target_.engine().target().identity))
      refuse_adoption(*orphan, *why);
    else
      adopt(*orphan);
  } else {
    attach();
  }
  io_.run();
  kernel_.join();
  if (device_ && !served_.kept) {
    link_.detached();
    remove_disk_record(name_);
  }
  return code_;
}

// The target answering as eS.L is not the disk the device served (another
// file behind a restarted vblade, another target given the same address):
// replaying the kernel's held writes there would corrupt it.  The device is
// disconnected, so the held I/O fails now rather than waiting for a
// successor that would find the same.
void KernelServing::refuse_adoption(std::uint32_t index, const std::string& why) {
  for (int fd : request_.sockets) ::close(fd);
  for (int fd : ours_) ::close(fd);
  request_.sockets.clear();
  ours_.clear();
  boost::asio::post(kernel_, [this, index, why] {
    const auto dec = driver_.disconnect(index);
    boost::asio::post(io_, [this, index, why, dec] {
      const std::string device = fmt::format("/dev/nbd{}", index);
      const std::string outcome = dec ? fmt::format("disconnecting it failed ({}): its held I/O fails when its "
                                                    "--reconnect-timeout runs out", dec.message())
                                      : "disconnected: its held I/O fails with EIO";
      if (!dec) remove_disk_record(name_);  // else the next one must refuse too
      readiness_.failed(exit_failed, fmt::format("{}: refusing to adopt {} left by a previous aoe-attach: {}; {}",
                                                 name_, device, why, outcome));
      stop(exit_failed);
    });
  });
}

void KernelServing::attach() {
  // The kernel reads the device as soon as it is connected: the io thread
  // (this one) serves the sockets while the kernel thread attaches.
  for (int fd : ours_) target_.server().serve_transmission(fd);
  ours_.clear();
  boost::asio::post(kernel_, [this] {
    std::error_code ec;
    device_ = driver_.attach(request_, ec);
    for (int fd : request_.sockets) ::close(fd);  // the kernel holds its own references
    boost::asio::post(io_, [this, ec] { on_attached(ec); });
  });
}

// Requests of /dev/nbdN sent and not answered (sysfs inflight: reads and
// writes), for the log; those waiting for a connection are not counted.
std::uint64_t requests_in_flight(std::uint32_t index) {
  std::ifstream in(nbd::sysfs_dir_of(index) / "inflight");
  std::uint64_t reads = 0, writes = 0;
  in >> reads >> writes;
  return reads + writes;
}

// Adopting needs no serving first: the kernel only resends what it held,
// and that waits in the sockets.  It drops the sockets it has no dead
// connection for: those that hang up once our copies are closed.
void KernelServing::adopt(std::uint32_t index) {
  boost::asio::post(kernel_, [this, index] {
    const std::uint64_t held = requests_in_flight(index);
    std::error_code ec;
    device_ = driver_.adopt(index, request_, ec);
    if (!device_ && ec == nbd::attach_errc::module_missing) {  // no netlink here: attach anew
      boost::asio::post(io_, [this] { attach(); });
      return;
    }
    for (int fd : request_.sockets) ::close(fd);
    std::vector<int> taken;
    for (int fd : ours_) {
      if (device_ && nbd::kernel_holds(fd)) taken.push_back(fd);
      else ::close(fd);
    }
    ours_.clear();
    bool resize = false;
    if (device_ && !taken.empty()) {
      // Not before: on a device someone else serves, that would change theirs.
      if (auto tec = device_->set_timeouts(request_.timeout_seconds, request_.dead_conn_timeout_seconds))
        log::warning("{}: cannot renew the timeouts of {}: {}", name_, device_->path(), tec.message());
      std::uint64_t sectors = 0;
      std::ifstream size_file(nbd::sysfs_dir_of(index) / "size");
      if (size_file >> sectors)
        resize = sectors * 512 != request_.size_bytes;  // the target changed while nobody served it
    }
    boost::asio::post(io_, [this, ec, taken, held, resize] { on_adopted(ec, taken, held, resize); });
  });
}

void KernelServing::on_adopted(std::error_code ec, std::vector<int> taken, std::uint64_t held, bool resize) {
  if (!device_ || taken.empty()) {
    // Its connections are live after all: someone serves it without a
    // status socket here.
    const std::string why =
        device_ ? fmt::format("{} is already in use: its connections are live, so another process serves it",
                              device_->path())
                : ec.message();
    device_.reset();
    const int code = ec == nbd::attach_errc::permission_denied ? exit_permission : exit_failed;
    readiness_.failed(code, fmt::format("cannot adopt the device of {} ({}): {}", name_, request_.backend_id, why));
    stop(code);
    return;
  }
  for (int fd : taken) target_.server().serve_transmission(fd);
  path_ = device_->path();
  log::notice("{}: adopted {} left by a previous aoe-attach ({} of {} connections); the kernel resends the I/O "
              "it held ({} requests were in flight on the dead connections)",
              name_, path_, taken.size(), o_.connections, held);
  serving();
  if (resize) resize_device(request_.size_bytes);
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
  log::notice("{}: attached as {}", name_, path_);
  if (auto rec = save_disk_record(name_, target_.engine().target().identity))
    log::warning("{}: cannot record its disk in {} ({}): a restart will adopt {} unchecked", name_,
                 disk_record_path(name_).string(), rec.message(), path_);
  if (o_.reconnect_timeout_seconds && !device_->adoptable())
    log::warning("{}: without the kernel's nbd netlink interface a restart of aoe-attach fails the I/O of {} "
                 "(--reconnect-timeout needs it)", name_, path_);
  serving();
}

// Attached or adopted: resizes, the target's rounds, the link, then the signals.
void KernelServing::serving() {
  served_.device = path_;
  target_.set_resize_listener([this](std::uint64_t size) { resize_device(size); });
  target_.start();
  target_.server().set_idle_listener([this] { on_kernel_gone(); });
  // udev names the device where it runs with our rule (fstab and systemd use
  // that name); waiting for it blocks, and this thread serves the device.
  link_.make(
      path_,
      [this] {
        // The root's daemon adopting the device its predecessor served: the
        // link is there, and udev's rules lie on the root, which waits for us.
        std::error_code lec;
        if (o_.root_storage && resolve_etherd_link(name_, lec, o_.etherd_dir) == device_->index())
          return EtherdLink{};
        const bool by_udev = o_.etherd_dir == etherd_dir && udev_will_name(device_->index(), request_.backend_id);
        return make_etherd_link(name_, device_->index(), by_udev, o_.etherd_dir);
      },
      [this] { return stopping_; },
      [this] {
        wait_signals();
        // The kernel may have let go already (a socket that failed at once).
        if (target_.server().connection_count() == 0) on_kernel_gone();
      });
}

// Resizing the kernel device waits for in-flight I/O, which the io thread serves.
void KernelServing::resize_device(std::uint64_t size) {
  boost::asio::post(kernel_, [this, size, identity = target_.engine().target().identity] {
    if (auto rec = device_->resize(size)) {
      log::warning("{}: cannot resize {} to {} bytes: {}", name_, path_, size, rec.message());
      return;
    }
    log::notice("{}: {} resized to {} bytes", name_, path_, size);
    if (auto sec = save_disk_record(name_, identity))  // the disk is still ours, at its new size
      log::warning("{}: cannot update {}: {}", name_, disk_record_path(name_).string(), sec.message());
  });
}

// Every signal until the end: a later one hurries the stop.
void KernelServing::wait_signals() {
  signals_.async_wait([this](const boost::system::error_code& sec, int sig) {
    if (sec) return;
    on_signal(sig);
    wait_signals();
  });
}

// SIGINT (aoe-detach, Ctrl-C) means "go away": disconnect.  SIGTERM
// (systemctl stop or restart, kill) leaves a device in use to the next
// aoe-attach, which adopts it while the kernel holds its I/O; one nothing
// uses is disconnected all the same, but for a root daemon's.  Whatever the
// deadline, the stop ends within seconds (AttachedTarget::hurry) once the
// device is disconnected (the kernel failed its requests: nobody waits for
// their answers), and on a second signal; requests of a device left to a
// successor are then left unanswered, for it to take over.
void KernelServing::on_signal(int sig) {
  if (stopping_) {
    log::notice("{}: signal {} while stopping: ending within {} s", name_, sig,
                AttachedTarget::stop_grace.count());
    hurry_ = true;
    if (stopped_) target_.hurry(served_.kept);
    return;
  }
  stopping_ = true;
  readiness_.stopping("stopping: signal " + std::to_string(sig));
  const bool may_leave = sig == SIGTERM && o_.reconnect_timeout_seconds && device_->adoptable();
  boost::asio::post(kernel_, [this, sig, may_leave] {
    // A root daemon serves "/" whatever /sys says: past the switch to the
    // root it sees the initramfs's emptied tree, with no /sys to ask.
    const auto user = !may_leave          ? std::nullopt
                      : o_.root_storage ? std::optional<std::string>("the root file system")
                                        : device_->in_use();
    if (user) {
      const std::string how_long = o_.reconnect_timeout_seconds == reconnect_forever
                                       ? std::string("until one comes")
                                       : fmt::format("for up to {} s", o_.reconnect_timeout_seconds);
      log::notice("{}: signal {}: leaving {} ({}) to the next aoe-attach {}; the kernel holds its I/O {} "
                  "(aoe-detach {} detaches it for good)", name_, sig, path_, *user, name_, how_long, name_);
    } else {
      log::notice("{}: signal {}: disconnecting {}", name_, sig, path_);
      if (auto dec = device_->disconnect()) log::warning("{}: disconnect {}: {}", name_, path_, dec.message());
    }
    boost::asio::post(io_, [this, kept = user.has_value()] {
      served_.kept = kept;
      if (!kept) hurry_ = true;
      if (kept && !hurry_) return hand_over_when_quiet(std::chrono::steady_clock::now() + handover_quiet_wait);
      stop(exit_ok);
    });
  });
}

// Leaving the device to a successor: at a quiet moment, so that nothing
// waits for the kernel's request timeout (handover_quiet_wait above).
void KernelServing::hand_over_when_quiet(std::chrono::steady_clock::time_point until) {
  const bool quiet = target_.server().quiet();
  if (quiet || hurry_ || std::chrono::steady_clock::now() >= until) {
    if (!quiet && !hurry_)
      log::warning("{}: {} had no quiet moment for {} s: handing it over with requests in flight, which wait for "
                   "their request timeout of {} s", name_, path_,
                   std::chrono::duration_cast<std::chrono::seconds>(handover_quiet_wait).count(),
                   request_.timeout_seconds);
    return stop(exit_ok);  // shuts every connection for receiving at once (nbd::Server::shutdown)
  }
  watchdog_.expires_after(handover_quiet_poll);
  watchdog_.async_wait([this, until](const boost::system::error_code& ec) {
    if (!ec) hand_over_when_quiet(until);
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
  // The root's device must not fail its I/O: left configured, the kernel
  // holds it (no reconnect expiry) for a successor run from the copy in /run
  // (aoe-attach(8), ROOT STORAGE).
  if (o_.root_storage && device_->adoptable()) {
    served_.kept = true;
    log::error("{}: the kernel closed every NBD connection of {} (a request outlived its timeout of {} s, "
               "or a socket failed); leaving it configured, its I/O held, for a restart to adopt",
               name_, path_, request_.timeout_seconds);
    return stop(code);
  }
  log::error("{}: the kernel closed every NBD connection of {} (a request outlived its timeout of {} s, "
             "or a socket failed); disconnecting it", name_, path_, request_.timeout_seconds);
  boost::asio::post(kernel_, [this, code] {
    if (auto dec = device_->disconnect()) log::warning("{}: disconnect {}: {}", name_, path_, dec.message());
    boost::asio::post(io_, [this, code] { stop(code); });
  });
}

void KernelServing::stop(int code) {
  code_ = code;
  stopping_ = stopped_ = true;
  work_.reset();
  watchdog_.cancel();
  target_.server().set_idle_listener(nullptr);
  target_.stop([this] {
    boost::system::error_code ignored;
    signals_.cancel(ignored);  // a later signal must not reach this object
    io_.stop();
  });
  if (hurry_) target_.hurry(served_.kept);
}

}  // namespace

void harden_for_kernel_io(bool root_storage) {
  // PR_SET_IO_FLUSHER: our allocations never recurse into reclaim of our device.
  if (::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0)
    log::warning("prctl(PR_SET_IO_FLUSHER): {} (continuing; memory pressure may deadlock the device)",
                 std::strerror(errno));
  // Every page now, text included: a root storage daemon must never page its
  // code back in from a file (no MCL_ONFAULT).  Under ASan this is a no-op:
  // its interceptor ignores mlockall rather than pin terabytes of shadow.
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    log::warning("mlockall: {} (continuing; pages may be swapped out under pressure)", std::strerror(errno));
  if (!root_storage) return;
  std::ofstream oom("/proc/self/oom_score_adj");
  if (!(oom << "-1000" << std::flush))
    log::warning("cannot write -1000 to /proc/self/oom_score_adj (continuing; the OOM killer may pick us)");
}

// Above the deadline with room to spare, as a request may wait in the
// bridge before its first frame is sent: our engine fails a request long
// before, so the kernel only times out requests nobody serves any more, and
// then requeues them for a successor (reconnect > 0): their timer is what
// resends the requests that were in flight on a dead connection.  0 (one
// socket: never give up) where that is what was asked: --deadline 0, or no
// reconnect (a timed out request would fail at once).  With several
// sockets the kernel times out at 30 s whatever we say and kills the
// socket; --deadline 0 cannot hold there (aoe-attach refuses it).
std::uint64_t kernel_request_timeout(double deadline_seconds, unsigned connections, unsigned reconnect_seconds) {
  if (connections <= 1 && (deadline_seconds == 0 || reconnect_seconds == 0)) return 0;
  const auto deadline = static_cast<std::uint64_t>(std::ceil(deadline_seconds));
  return deadline + std::max<std::uint64_t>(deadline, 30);
}

int serve_kernel(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                 const Options& o, Readiness& readiness, Served& served, KernelDriver& driver) {
  KernelServing serving(io, signals, target, o, readiness, served, driver);
  return serving.run();
}

}  // namespace aoe::daemon
