#include "daemon/ublk_serving.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/core.h>

#include "daemon/etherd_link.h"
#include "daemon/exit_codes.h"
#include "daemon/ready_link.h"
#include "daemon/ublk_device.h"
#include "daemon/ublk_queue.h"
#include "daemon/ublk_takeover.h"
#include "base/log.h"
#include "nbd-bridge/device_usage.h"

namespace aoe::daemon {

namespace {

// One queue (the engine is one thread), 64 requests of up to 512 KiB in
// flight: a 32 MiB buffer, locked in memory, which keeps aoe-attach under
// its 64 MiB goal (README, Performance); 64 is twice the deepest queue the
// benchmarks use, and 512 KiB more than the 128 KiB most file systems send.
constexpr UblkQueueSettings queue_settings{64, 512u << 10};

// How long a starting aoe-attach waits for the kernel to notice that its
// predecessor died (its queue quiesced), and to release /dev/ublkcN.
constexpr auto takeover_wait = std::chrono::seconds(10);
constexpr auto takeover_poll = std::chrono::milliseconds(50);

bool process_alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

class UblkServing : KernelServingParts {
 public:
  UblkServing(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
              const Options& o, std::unique_ptr<UblkControl> control, Readiness& readiness, Served& served)
      : KernelServingParts{io, signals, target, o, readiness, served, target.target().name()},
        control_(std::move(control)), queue_(target.engine(), queue_settings),
        link_(io, kernel_, readiness, served, name_, o.etherd_dir) {}

  // Nothing: fell back to nbd (serve_ublk).
  std::optional<int> run();

 private:
  std::optional<std::uint32_t> find_orphan(bool& failed);
  void add();
  void take_over(std::uint32_t id);
  bool open_queue();
  void on_started(std::error_code ec, bool recovered);
  void serving();
  void on_signal(int sig);
  void on_aborted();
  void stop_device(int code);
  void leave();
  void cannot_serve(int code, const std::string& why);
  void fail(int code, const std::string& why);
  void finish_failure(int code);
  void stop(int code);

  std::unique_ptr<UblkControl> control_;  // open; used on kernel_ once io_ runs
  UblkQueue queue_;
  std::unique_ptr<UblkQueueRing> ring_;
  boost::asio::thread_pool kernel_{1};
  ReadyLink link_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::uint32_t id_ = 0;
  bool added_ = false;      // a device of ours exists (delete it if we fail before serving)
  bool recovery_ = false;   // made with UBLK_F_USER_RECOVERY: the kernel holds its I/O once we are gone
  bool taking_over_ = false;  // a predecessor's device, holding its I/O: never left for nbd
  // --kernel-device auto: where the kernel will not make or start a device
  // of ours, nbd serves instead (fell_back_).
  const bool may_fall_back_ = o_.kernel_device == KernelDeviceKind::automatic;
  bool fell_back_ = false;
  bool stopping_ = false;
  std::string path_;
  int code_ = exit_ok;
  std::chrono::steady_clock::time_point began_ = std::chrono::steady_clock::now();
};

std::optional<int> UblkServing::run() {
  queue_.set_write_guard([this] { return target_.claim_state() == ClaimState::lost; });
  queue_.set_abort_listener([this] { on_aborted(); });
  work_.emplace(io_.get_executor());
  bool failed = false;
  const auto orphan = o_.reconnect_timeout_seconds ? find_orphan(failed) : std::nullopt;
  if (failed)
    ;  // said why, and stopping
  else if (orphan)
    take_over(*orphan);
  else
    add();
  io_.run();
  kernel_.join();
  if (fell_back_) {
    io_.restart();
    return std::nullopt;
  }
  if (added_ && !served_.kept) link_.detached();
  return code_;
}

// A device a previous aoe-attach of this target left, which we take over.
// Before io_ runs: nothing is served yet, so this thread may block.
std::optional<std::uint32_t> UblkServing::find_orphan(bool& failed) {
  const auto mark = ublk_mark(o_.attach.shelf, o_.attach.slot);
  for (const std::uint32_t id : UblkControl::devices()) {
    ublk::DevInfo info;
    if (control_->info(id, info) || info.ublksrv_flags != mark) continue;
    if (o_.device && *o_.device != id) continue;
    const auto deadline = std::chrono::steady_clock::now() + takeover_wait;
    for (;;) {
      switch (takeover_of(info, process_alive(info.ublksrv_pid))) {
        case Takeover::recover:
          return id;
        case Takeover::served:
          fail(exit_failed, fmt::format("{} is already served as {} by another process (pid {})", name_,
                                        ublk_block_path(id), info.ublksrv_pid));
          failed = true;
          return std::nullopt;
        case Takeover::replace:
          log::notice("{}: deleting {}, left unusable by a previous aoe-attach", name_, ublk_block_path(id));
          if (auto ec = control_->remove(id)) log::warning("{}: DEL_DEV {}: {}", name_, id, ec.message());
          return std::nullopt;
        case Takeover::wait:
          break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        fail(exit_failed, fmt::format("{}: the kernel did not release {} within {} s after its server (pid {}) "
                                      "died", name_, ublk_block_path(id), takeover_wait.count(),
                                      info.ublksrv_pid));
        failed = true;
        return std::nullopt;
      }
      std::this_thread::sleep_for(takeover_poll);
      if (control_->info(id, info)) return std::nullopt;
    }
  }
  return std::nullopt;
}

void UblkServing::add() {
  const bool can_flush = target_.engine().can_flush();
  recovery_ = o_.reconnect_timeout_seconds != 0;
  ublk::DevInfo info{};
  info.nr_hw_queues = 1;
  info.queue_depth = static_cast<std::uint16_t>(queue_settings.depth);
  info.max_io_buf_bytes = static_cast<std::uint32_t>(queue_settings.buffer_bytes);
  info.dev_id = o_.device.value_or(~0u);
  info.ublksrv_pid = ::getpid();
  // Recovery: the device outlives us, its I/O held for a successor, which
  // is reissued the requests in flight at our death (ublk_serving.h).
  info.flags = (recovery_ ? ublk::f_user_recovery | ublk::f_user_recovery_reissue : 0) |
               (control_->features() & ublk::f_cmd_ioctl_encode);
  info.ublksrv_flags = ublk_mark(o_.attach.shelf, o_.attach.slot);
  if (auto ec = control_->add(info)) {
    const int code = ec == std::errc::operation_not_permitted || ec == std::errc::permission_denied
                         ? exit_permission
                         : exit_failed;
    return cannot_serve(code, fmt::format("cannot add a ublk device for {}: {}", name_, ec.message()));
  }
  id_ = info.dev_id;
  added_ = true;
  ublk::Params params{};
  params.types = ublk::param_type_basic;
  params.basic.attrs = (o_.attach.export_options.read_only ? ublk::attr_read_only : 0) |
                       (can_flush ? ublk::attr_volatile_cache | ublk::attr_fua : 0);
  // AoE addresses 512-byte sectors; the physical sector, the smallest write
  // the disk does without a read-modify-write, is IDENTIFY's.
  const std::uint8_t physical = target_.engine().target().identity.physical_sector_shift;
  params.basic.logical_bs_shift = 9;
  params.basic.physical_bs_shift = physical;
  params.basic.io_min_shift = physical;
  params.basic.max_sectors = static_cast<std::uint32_t>(queue_settings.buffer_bytes >> 9);
  params.basic.dev_sectors = target_.engine().size_bytes() >> 9;
  if (auto ec = control_->set_params(id_, params))
    return cannot_serve(exit_failed,
                        fmt::format("cannot set the parameters of {}: {}", ublk_block_path(id_), ec.message()));
  if (!open_queue()) return;
  // START_DEV waits for every fetch, then reads the partition table through us.
  boost::asio::post(kernel_, [this, pid = ::getpid()] {
    auto ec = control_->start(id_, pid);
    boost::asio::post(io_, [this, ec] { on_started(ec, false); });
  });
}

void UblkServing::take_over(std::uint32_t id) {
  id_ = id;
  added_ = true;
  recovery_ = true;
  taking_over_ = true;
  // The old /dev/ublkcN is released a moment after its queue quiesced.
  std::error_code ec;
  const auto deadline = std::chrono::steady_clock::now() + takeover_wait;
  while ((ec = control_->start_recovery(id)) == std::errc::device_or_resource_busy &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(takeover_poll);
  if (ec) {
    added_ = false;  // not ours to delete: it holds someone's I/O
    return fail(exit_failed, fmt::format("cannot take over {} left by a previous aoe-attach of {}: "
                                         "START_USER_RECOVERY: {}", ublk_block_path(id), name_, ec.message()));
  }
  if (!open_queue()) return;
  boost::asio::post(kernel_, [this, pid = ::getpid()] {
    auto rec = control_->end_recovery(id_, pid);
    boost::asio::post(io_, [this, rec] { on_started(rec, true); });
  });
}

bool UblkServing::open_queue() {
  std::error_code ec;
  const bool encode = control_->features() & ublk::f_cmd_ioctl_encode;
  ring_ = UblkQueueRing::open(io_, id_, queue_settings.depth, encode,
                              [this](std::uint16_t tag, std::int32_t result) { queue_.on_completion(tag, result); },
                              ec);
  if (!ring_) {
    cannot_serve(exit_failed, fmt::format("cannot open {}: {}", ublk_char_path(id_), ec.message()));
    return false;
  }
  queue_.start(*ring_);
  return true;
}

void UblkServing::on_started(std::error_code ec, bool recovered) {
  if (stopping_) return;
  path_ = ublk_block_path(id_);
  if (ec)
    return cannot_serve(exit_failed, fmt::format("cannot {} {} for {}: {}", recovered ? "recover" : "start", path_,
                                                 name_, ec.message()));
  if (recovered)
    log::notice("{}: took over {} left by a previous aoe-attach in {} ms; the kernel reissues the I/O it held",
                name_, path_,
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began_)
                    .count());
  else
    log::notice("{}: attached as {}{}", name_, path_, recovery_ ? " (held across restarts)" : "");
  serving();
}

void UblkServing::serving() {
  served_.device = path_;
  target_.set_resize_listener([this](std::uint64_t size) {
    log::warning("{}: the target now has {} bytes; {} keeps its size until aoe-attach is restarted", name_, size,
                 path_);
  });
  target_.start();
  link_.make(
      path_,
      [this] {
        const auto ec = create_etherd_link_to(name_, path_, o_.etherd_dir);
        return EtherdLink{!ec, ec};
      },
      [this] { return stopping_; },
      [this] {
        signals_.async_wait([this](const boost::system::error_code& sec, int sig) {
          if (!sec) on_signal(sig);
        });
      });
}

// SIGINT (aoe-detach, Ctrl-C): stop and delete the device.  SIGTERM
// (systemctl stop or restart, kill) leaves a device in use to the next
// aoe-attach: we close the queue, and the kernel holds its I/O.
void UblkServing::on_signal(int sig) {
  if (stopping_) return;
  stopping_ = true;
  readiness_.stopping("stopping: signal " + std::to_string(sig));
  const bool may_leave = sig == SIGTERM && recovery_;
  boost::asio::post(kernel_, [this, sig, may_leave] {
    const auto user = !may_leave        ? std::nullopt
                      : o_.root_storage ? std::optional<std::string>("the root file system")
                                        : nbd::block_device_in_use("ublkb" + std::to_string(id_));
    boost::asio::post(io_, [this, sig, user] {
      if (!user) {
        log::notice("{}: signal {}: stopping {}", name_, sig, path_);
        return stop_device(exit_ok);
      }
      log::notice("{}: signal {}: leaving {} ({}) to the next aoe-attach {}; the kernel holds its I/O until "
                  "then (aoe-detach {} detaches it for good)", name_, sig, path_, *user, name_, name_);
      served_.kept = true;
      leave();
    });
  });
}

// The queue's io_uring stays open until the process exits: the kernel then
// cancels its commands and quiesces the device, as after a crash (the path
// recovery is built for).  Closing it from the live process instead, with
// every tag's command outstanding, was once seen to oops Debian's 6.12
// kernel in the ring's teardown (docs/architecture.md, "ublk serving").
void UblkServing::leave() {
  queue_.detach();
  static auto* const kept_for_exit = new std::unique_ptr<UblkQueueRing>();
  *kept_for_exit = std::move(ring_);
  stop(exit_ok);
}

// Every command came back ABORT without a stop of ours: the device was
// stopped from outside.
void UblkServing::on_aborted() {
  if (stopping_) return;
  log::notice("{}: {} was stopped from outside", name_, path_.empty() ? ublk_block_path(id_) : path_);
  stopping_ = true;
  ring_.reset();
  queue_.detach();
  boost::asio::post(kernel_, [this] {
    if (auto ec = control_->remove(id_)) log::warning("{}: DEL_DEV {}: {}", name_, id_, ec.message());
    boost::asio::post(io_, [this] { stop(exit_ok); });
  });
}

// STOP_DEV removes the disk, writing back what the kernel caches through
// us; then /dev/ublkcN is closed, which DEL_DEV waits for.
void UblkServing::stop_device(int code) {
  stopping_ = true;
  boost::asio::post(kernel_, [this, code] {
    if (auto ec = control_->stop(id_)) log::warning("{}: STOP_DEV {}: {}", name_, path_, ec.message());
    boost::asio::post(io_, [this, code] {
      queue_.detach();
      ring_.reset();
      boost::asio::post(kernel_, [this, code] {
        if (auto ec = control_->remove(id_)) log::warning("{}: DEL_DEV {}: {}", name_, id_, ec.message());
        boost::asio::post(io_, [this, code] { stop(code); });
      });
    });
  });
}

// Before serving, where the kernel would not make or start our device: with
// --kernel-device auto, nbd serves instead (never for a device taken over:
// it holds a predecessor's I/O, which only ublk can answer).
void UblkServing::cannot_serve(int code, const std::string& why) {
  if (may_fall_back_ && !taking_over_) {
    log::warning("{}; serving {} as /dev/nbdN instead (--kernel-device auto)", why, name_);
    fell_back_ = true;
  }
  fail(code, why);
}

// Before serving: a device we added goes again.
void UblkServing::fail(int code, const std::string& why) {
  if (!fell_back_) readiness_.failed(code, why);
  if (!added_) return finish_failure(code);
  queue_.detach();
  ring_.reset();
  // A device whose START_DEV failed or never ran: DEL_DEV only.
  boost::asio::post(kernel_, [this, code] {
    if (auto ec = control_->remove(id_)) log::warning("{}: DEL_DEV {}: {}", name_, id_, ec.message());
    boost::asio::post(io_, [this, code] {
      added_ = false;
      finish_failure(code);
    });
  });
}

// Falling back, the target stays up for nbd serving; else it stops.
void UblkServing::finish_failure(int code) {
  if (!fell_back_) return stop(code);
  stopping_ = true;
  queue_.detach();
  ring_.reset();
  work_.reset();
  io_.stop();
}

void UblkServing::stop(int code) {
  code_ = code;
  stopping_ = true;
  // Closing the queue is what tells the kernel we are gone (when kept: it
  // quiesces the device for a successor).
  queue_.detach();
  ring_.reset();
  work_.reset();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  target_.stop([this] { io_.stop(); });
}

}  // namespace

std::optional<int> serve_ublk(boost::asio::io_context& io, boost::asio::signal_set& signals,
                              AttachedTarget& target, const Options& o, std::unique_ptr<UblkControl> control,
                              Readiness& readiness, Served& served) {
  UblkServing serving(io, signals, target, o, std::move(control), readiness, served);
  return serving.run();
}

}  // namespace aoe::daemon
