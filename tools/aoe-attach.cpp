// aoe-attach: serve one AoE target as /dev/nbdN (through the kernel's nbd
// driver) or as an NBD unix socket, until detached or signalled.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/core.h>

#include "initiator/log.h"
#include "nbd-bridge/kernel_attach.h"
#include "tools/attached_target.h"
#include "tools/claim.h"
#include "tools/common.h"
#include "tools/daemon.h"
#include "tools/status_endpoint.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57  // Linux 5.6
#endif

namespace {

using namespace aoe;
using namespace aoe::tools;

struct Options {
  CommonOptions common;
  std::string target;
  std::string socket_path;
  std::string device;
  bool foreground = false;
  bool read_only = false;
  bool claim = false;
  bool force_claim = false;
  bool keep_claim = false;
  double deadline = 60;
  double timeout = 1;
  unsigned rediscover = 60;
  unsigned connections = 1;
};

// A server in the kernel's block I/O path must not wait for memory the
// kernel can only free by writing through that same path: mark the process
// as an I/O flusher (so its allocations never recurse into reclaim of our
// device) and keep every page resident.  Before any thread starts.
void harden_for_kernel_io() {
  if (::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0)
    log::warning("prctl(PR_SET_IO_FLUSHER): {} (continuing; memory pressure may deadlock the device)",
                 std::strerror(errno));
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
    log::warning("mlockall: {} (continuing; pages may be swapped out under pressure)", std::strerror(errno));
}

// What aoe-stat shows as the device; set on the io thread once it is known.
// `ready` once the parent was told we serve: failures before that leave
// nothing of ours in use (so a claim is released).
struct Served {
  std::string device;
  bool ready = false;
};

// The kernel's per-request timeout for `connections` sockets (doc
// nbd-protocol §5.5).  One socket with timeout 0 never gives up, and our
// engine's deadline fails requests itself.  With several, the kernel times
// out at 30 s whatever we say and kills the socket: give it room above the
// deadline, as a request may wait in the bridge before its first frame is
// sent.  --deadline 0 (retry forever) cannot hold there; main refuses it.
std::uint64_t kernel_request_timeout(double deadline_seconds, unsigned connections) {
  if (connections <= 1) return 0;
  const auto deadline = static_cast<std::uint64_t>(std::ceil(deadline_seconds));
  return deadline + std::max<std::uint64_t>(deadline, 30);
}

// After every connection closed without a signal of ours: was the device
// disconnected from outside (nbd-client -d, or aoe-detach finding no status
// socket), or did the kernel declare the sockets dead (a request outlived
// its timeout)?  A netlink device disconnected from outside drops its
// configuration once the sockets are shut; dead sockets leave it configured.
// An ioctl device ends its NBD_DO_IT either way: no telling, assume the worst.
bool disconnected_from_outside(const nbd::Attachment& attachment) {
  if (attachment.interface() != nbd::Interface::netlink) return false;
  for (int i = 0; i < 20; ++i) {
    std::error_code ec;
    if (nbd::status(attachment.index(), ec) == nbd::DeviceStatus::disconnected && !ec) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

int serve_socket(boost::asio::io_context& io, AttachedTarget& target, const Options& o, Readiness& readiness,
                 Served& served) {
  served.device = o.socket_path;
  if (auto ec = target.server().listen_unix(o.socket_path)) {
    readiness.failed(exit_failed, fmt::format("cannot listen on {}: {}", o.socket_path, ec.message()));
    return exit_failed;
  }
  target.set_resize_listener([&](std::uint64_t size) {
    log::notice("{}: new NBD connections see {} bytes; connected clients keep the size they negotiated",
                target.target().name(), size);
  });
  target.start();
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::notice("{}: signal {}: draining in-flight requests", target.target().name(), sig);
    target.stop([&] { io.stop(); });
  });
  served.ready = true;
  readiness.ready(o.socket_path);
  io.run();
  std::error_code ignored;
  std::filesystem::remove(o.socket_path, ignored);
  return exit_ok;
}

int serve_kernel(boost::asio::io_context& io, AttachedTarget& target, const Options& o, Readiness& readiness,
                 Served& served) {
  const std::string name = target.target().name();
  nbd::AttachRequest request;
  std::vector<int> ours;
  for (unsigned i = 0; i < o.connections; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      readiness.failed(exit_failed, fmt::format("socketpair: {}", std::strerror(errno)));
      return exit_failed;
    }
    target.server().serve_transmission(sv[0]);
    request.sockets.push_back(sv[1]);
  }
  request.size_bytes = target.engine().size_bytes();
  request.block_size = 512;
  request.flags = target.server().transmission_flags();
  request.backend_id = "aoe-nbd:" + name;
  request.timeout_seconds = kernel_request_timeout(o.deadline, o.connections);
  if (!o.device.empty()) request.index = nbd::parse_device_path(o.device);

  // The kernel reads the device as soon as it is connected: serve first.
  std::atomic<bool> kernel_gone{false};
  boost::asio::steady_timer watch(io);
  std::function<void()> watch_connections = [&] {
    watch.expires_after(std::chrono::milliseconds(200));
    watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (target.server().connection_count() == 0) {
        kernel_gone = true;  // not by our signal: see disconnected_from_outside
        return;
      }
      watch_connections();
    });
  };
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  auto stop_io = [&] {
    boost::asio::post(io, [&] {
      watch.cancel();
      target.stop([&] { io.stop(); });
    });
    io_thread.join();
  };

  std::error_code ec;
  auto attachment = nbd::connect(request, ec);
  for (int fd : request.sockets) ::close(fd);  // the kernel holds its own references
  if (!attachment) {
    int code = ec == nbd::attach_errc::module_missing ? exit_no_nbd
               : ec == nbd::attach_errc::permission_denied ? exit_permission
                                                           : exit_failed;
    std::string hint = ec == nbd::attach_errc::module_missing
                           ? " (load it with `modprobe nbd`, or serve a socket with --socket PATH)"
                           : "";
    readiness.failed(code, fmt::format("cannot attach {} to the kernel: {}{}", name, ec.message(), hint));
    stop_io();
    return code;
  }
  std::string device = attachment->device_path();
  if (auto link_ec = nbd::create_etherd_link(name, attachment->index()))
    log::warning("{}: cannot create {}/{}: {}", name, nbd::etherd_dir.string(), name, link_ec.message());
  // Resizing the kernel device is a blocking netlink call: the main thread does it.
  std::atomic<std::uint64_t> new_size{0};
  boost::asio::post(io, [&] {
    served.device = device;
    target.set_resize_listener([&](std::uint64_t size) { new_size = size; });
    target.start();
    watch_connections();
  });
  log::notice("{}: attached as {}", name, device);
  served.ready = true;
  readiness.ready(device);

  // Wait for SIGINT/SIGTERM (blocked in every thread) or the kernel letting go.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  timespec tick{0, 200'000'000};
  int code = exit_ok;
  bool signalled = false;
  while (!kernel_gone) {
    if (std::uint64_t size = new_size.exchange(0)) {
      if (auto rec = attachment->resize(size))
        log::warning("{}: cannot resize {} to {} bytes: {}", name, device, size, rec.message());
      else
        log::notice("{}: {} resized to {} bytes", name, device, size);
    }
    int sig = ::sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig > 0) {
      log::notice("{}: signal {}: disconnecting {}", name, sig, device);
      signalled = true;
      if (auto dec = attachment->disconnect()) log::warning("{}: disconnect {}: {}", name, device, dec.message());
      break;
    }
  }
  if (!signalled && !disconnected_from_outside(*attachment)) {
    // Not a detach: I/O on the device fails from now on.  Free it (a dead
    // configuration would pin /dev/nbdN) and say so with a failing exit,
    // which systemd's Restart=on-failure answers by attaching again.
    log::error("{}: the kernel closed every NBD connection of {} (a request outlived its timeout of {} s, "
               "or a socket failed); disconnecting it", name, device, request.timeout_seconds);
    if (auto dec = attachment->disconnect()) log::warning("{}: disconnect {}: {}", name, device, dec.message());
    code = exit_failed;
  }
  work.reset();
  stop_io();
  nbd::remove_etherd_link(name, attachment->index());
  log::notice("{}: detached from {}", name, device);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Attach an AoE target as a block device (/dev/nbdN through the kernel's nbd driver) "
               "or serve it as an NBD unix socket.",
               "aoe-attach"};
  add_common_options(app, o.common);
  app.add_option("target", o.target, "The target, as eSHELF.SLOT (e.g. e1.2)")->required();
  app.add_option("--socket", o.socket_path, "Serve NBD on this unix socket instead of attaching /dev/nbdN")
      ->type_name("PATH");
  app.add_option("--device", o.device, "Attach as this device (default: the kernel picks a free one)")
      ->type_name("/dev/nbdN")
      ->excludes("--socket");
  app.add_flag("--foreground", o.foreground, "Stay in the foreground (for systemd); default: detach once serving");
  app.add_flag("--read-only", o.read_only, "Refuse writes");
  app.add_flag("--claim", o.claim,
               "Before serving, mark the target as this host's in its config string; refuse if another host "
               "holds it");
  app.add_flag("--force-claim", o.force_claim, "Claim the target even if another host holds it");
  app.add_flag("--keep-claim", o.keep_claim, "Leave the claim in place on detach");
  app.add_option("--deadline", o.deadline,
                 "Fail I/O with EIO once a frame went unanswered this long; 0 retries forever")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("-t,--timeout", o.timeout, "How long discovery waits for answers")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 60.0));
  app.add_option("--rediscover", o.rediscover, "Repeat discovery this often to refresh paths")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--connections", o.connections, "NBD connections to the kernel (1-16)")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(1u, 16u))
      ->excludes("--socket");
  if (auto code = parse(app, o.common, argc, argv)) return *code;

  AttachOptions attach;
  if (auto code = parse_target_name(app, o.target, attach.shelf, attach.slot)) return *code;
  if (!o.device.empty() && !nbd::parse_device_path(o.device))
    return fail(app, exit_usage, fmt::format("'{}' is not an nbd device like /dev/nbd0", o.device));
  attach.discovery_window = std::chrono::milliseconds(std::lround(o.timeout * 1000));
  attach.rediscover_interval = std::chrono::seconds(o.rediscover);
  attach.engine.deadline = std::chrono::milliseconds(std::llround(o.deadline * 1000));
  attach.export_options.name = o.target;
  attach.export_options.description = "AoE target " + o.target + " (aoe-nbd)";
  attach.export_options.read_only = o.read_only;
  bool kernel = o.socket_path.empty();
  if (kernel && o.connections > 1 && o.deadline == 0)
    return fail(app, exit_usage,
                "--deadline 0 needs --connections 1: with several sockets the kernel times requests out "
                "and kills their socket");
  // The background process works from "/": a relative path must mean what the caller meant.
  if (!kernel) o.socket_path = std::filesystem::absolute(o.socket_path).string();

  // A log line to a stderr whose reader went away must fail, not kill the server.
  ::signal(SIGPIPE, SIG_IGN);
  Readiness readiness = o.foreground ? Readiness::foreground() : Readiness::daemonize();
  if (kernel) {
    harden_for_kernel_io();
    // Signals are taken by sigtimedwait in the main thread, never by the io thread.
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
  }

  boost::asio::io_context io;
  Links links;
  if (auto code = open_links(io, app, o.common, links, &attach.pending_interfaces)) {
    readiness.failed(*code, "cannot open the network interfaces (see above)");
    return *code;
  }
  bool claiming = o.claim || o.force_claim;
  // A failure from here on must not leave the target claimed by nobody
  // serving it, unless the claim is our sibling's (see below).
  auto finish = [&](int code, bool was_ready) {
    if (claiming && !o.keep_claim && (code == exit_ok || !was_ready)) {
      io.restart();
      auto released = release(io, links.links, attach.shelf, attach.slot, attach.discovery_window);
      if (!released.ok()) log::warning("{}", released.message);
    }
    return code;
  };
  if (claiming) {
    auto claimed = claim(io, links.links, attach.shelf, attach.slot,
                         o.force_claim ? ClaimMode::force : ClaimMode::normal, attach.discovery_window);
    if (!claimed.ok()) {
      int code = claimed.status == ClaimResult::Status::held ? exit_claimed : exit_failed;
      readiness.failed(code, claimed.message);
      return code;
    }
    io.restart();
  }
  std::string error;
  auto target = AttachedTarget::open(io, links.links, attach, error);
  if (!target) {
    readiness.failed(exit_not_found, error);
    return finish(exit_not_found, false);
  }
  Served served;
  std::error_code status_ec;
  auto status = StatusEndpoint::open(
      io, o.target, [&] { return status_json(target->engine(), served.device); }, status_ec, error);
  if (!status) {
    // Another aoe-attach answering for this target here is a second initiator
    // of one disk on one host: refuse.  Anything else only costs aoe-stat.
    // That one holds the claim legitimately: leave it.
    if (status_ec == std::errc::address_in_use) {
      readiness.failed(exit_failed, error);
      return exit_failed;
    }
    log::warning("{} (continuing without it)", error);
  }
  io.restart();
  int code = kernel ? serve_kernel(io, *target, o, readiness, served)
                    : serve_socket(io, *target, o, readiness, served);
  status.reset();
  target.reset();
  // A device that failed while serving may still have a mounted file system: keep the claim.
  return finish(code, served.ready);
}
