// aoe-attach: serve one AoE target as /dev/nbdN (through the kernel's nbd
// driver) or as an NBD unix socket, until detached or signalled; with
// --all, every target found, each by an aoe-attach of its own (daemon/shelf.h).
// The command line only: serving is the daemon layer's (daemon/lifecycle.h).
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/core.h>

#include "daemon/kernel_serving.h"
#include "daemon/lifecycle.h"
#include "daemon/readiness.h"
#include "daemon/shelf.h"
#include "daemon/socket_path.h"
#include "daemon/ublk_device.h"
#include "nbd-bridge/kernel_attach.h"
#include "tools/common.h"
#include "tools/validate.h"

namespace {

using namespace aoe;
using namespace aoe::tools;

struct CommandLine {
  CommonOptions common;
  daemon::Options serve;
  std::vector<std::string> names;  // the target; with --all, patterns
  bool all = false;
  std::vector<std::string> excludes;
  std::string socket_dir;
  discovery::TargetSelection selection;  // --all's, from names and excludes
  std::string device;
  std::string kernel_device = "auto";
  bool foreground = false;
  bool read_only = false;
  bool in_order_ports = false;
  bool tx_qdisc = false;
  bool exact_name = false;
  double timeout = 1;
  unsigned rediscover = 60;
};

void add_options(cli::App& app, CommandLine& c) {
  add_common_options(app, c.common);
  daemon::Options& o = c.serve;
  app.add_option("target", c.names,
                 "The target, as eSHELF.SLOT (e.g. e1.2); with --all, patterns of targets (e1.*, e1.0-7, !e1.3)")
      ->type_name("TARGET|PATTERN");
  auto* all = app.add_flag("--all", c.all,
                           "Attach every target found (or matching the patterns), and those that appear later, "
                           "each served by an aoe-attach of its own");
  app.add_option("--exclude", c.excludes, "With --all: never attach the targets this pattern matches")
      ->type_name("PATTERN")
      ->needs(all);
  app.add_option("--socket-dir", c.socket_dir,
                 "With --all: serve each target on an NBD unix socket DIR/eS.L.sock instead of attaching /dev/nbdN")
      ->type_name("DIR")
      ->check(validate::Path())
      ->needs(all);
  app.add_option("--socket", o.socket_path, "Serve NBD on this unix socket instead of attaching /dev/nbdN")
      ->type_name("PATH")
      ->check(validate::Path())  // "" would quietly mean a kernel attach
      ->excludes(all);
  app.add_option("--kernel-device", c.kernel_device,
                 "The kernel driver that makes the block device: ublk (/dev/ublkbN), nbd (/dev/nbdN), or auto: "
                 "ublk where the kernel has ublk_drv or can load it, else nbd")
      ->type_name("ublk|nbd|auto")
      ->capture_default_str()
      ->check(cli::one_of({"ublk", "nbd", "auto"}))
      ->excludes("--socket")
      ->excludes("--socket-dir");
  app.add_option("--device", c.device, "Attach as this device (default: the kernel picks a free one)")
      ->type_name("/dev/nbdN|/dev/ublkbN")
      ->check(validate::Path())
      ->excludes("--socket")
      ->excludes(all);
  app.add_flag("--exact-name", c.exact_name,
               "Refuse a target name not written as the target reports it (e01.2 for e1.2); for systemd "
               "instances, so one target has one unit");
  app.add_flag("--foreground", c.foreground, "Stay in the foreground (for systemd); default: detach once serving");
  app.add_flag("--read-only", c.read_only, "Refuse writes");
  app.add_flag("--in-order-ports", c.in_order_ports,
               "Every target port executes each path's frames in arrival order (vblade does): a later answer "
               "proves an earlier write copy can no longer execute");
  app.add_flag("--tx-qdisc", c.tx_qdisc,
               "Send through the interfaces' queueing discipline (tc) instead of straight to the driver");
  app.add_flag("--claim", o.claim,
               "Before serving, mark the target as this host's in its config string; refuse if another host "
               "holds it");
  app.add_flag("--force-claim", o.force_claim, "Claim the target even if another host holds it");
  app.add_flag("--keep-claim", o.keep_claim, "Leave the claim in place on detach");
  app.add_flag("--root-storage", o.root_storage,
               "Serve the root file system (implied when started from an initramfs): memory locked and "
               "preallocated, exempt from the OOM killer, the kernel holds I/O for a successor without limit; "
               "a second aoe-attach of the target exits 0");
  app.add_option("--deadline", o.deadline_seconds,
                 "Fail I/O with EIO once a frame went unanswered this long; 0 retries forever")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(validate::Number(0, 86400));
  app.add_option("--reconnect-timeout", o.reconnect_timeout_seconds,
                 "While no aoe-attach serves the device (a restart, a crash), the kernel holds its I/O this long "
                 "for the next one to adopt it, then fails it with EIO; 0 fails it at once")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(validate::WholeNumber(0, 86400, "seconds"))
      ->excludes("--socket");
  app.add_option("-t,--timeout", c.timeout, "How long discovery waits for answers")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(validate::Number(0.1, 60));
  app.add_option("--rediscover", c.rediscover, "Repeat discovery this often to refresh paths")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(validate::WholeNumber(1, 86400, "seconds"));
  app.add_option("--connections", o.connections, "NBD connections to the kernel (1-16)")
      ->type_name("N")
      ->capture_default_str()
      ->check(validate::WholeNumber(1, 16, "connections"))
      ->excludes("--socket");
}

// The parsed command line as the daemon layer takes it; an exit code when it is bad.
std::optional<int> check(const cli::App& app, CommandLine& c) {
  daemon::Options& o = c.serve;
  daemon::AttachOptions& attach = o.attach;
  c.common.link.bypass_qdisc = !c.tx_qdisc;
  attach.link = c.common.link;  // for interfaces that appear later
  if (c.all) {
    if (app.count("--root-storage") > 0 || c.exact_name)
      return fail(app, exit_usage, "--all serves every target: --root-storage and --exact-name name one");
    std::vector<std::string> patterns = c.names;
    for (const auto& e : c.excludes) patterns.push_back("!" + e);
    std::string error;
    auto selection = discovery::TargetSelection::parse(patterns, error);
    if (!selection) return fail(app, exit_usage, error);
    c.selection = std::move(*selection);
    return std::nullopt;  // each child checks the rest for its target
  }
  if (c.names.size() != 1)
    return fail(app, exit_usage,
                c.names.empty() ? "name the target (eSHELF.SLOT), or attach every one with --all"
                                : "one target at a time (or --all with patterns)");
  o.target = c.names.front();
  const std::string typed = o.target;
  if (auto code = parse_target_name(app, o.target, attach.shelf, attach.slot)) return code;
  if (c.exact_name && typed != o.target)
    return fail(app, exit_usage,
                fmt::format("'{}' is {} as the target reports it: use that name (aoe-attach@{})", typed, o.target,
                            o.target));
  if (o.root_storage) {
    if (app.count("--reconnect-timeout") == 0) o.reconnect_timeout_seconds = daemon::reconnect_forever;
    attach.export_options.preallocate_up_to = 2u << 20;
  }
  o.kernel_device = c.kernel_device == "ublk" ? daemon::KernelDeviceKind::ublk
                    : c.kernel_device == "nbd"  ? daemon::KernelDeviceKind::nbd
                                                : daemon::KernelDeviceKind::automatic;
  if (!c.device.empty()) {
    // The device names its driver: --device /dev/ublkb0 means ublk.
    const auto ublk = daemon::parse_ublk_path(c.device);
    o.device = ublk ? ublk : nbd::parse_device_path(c.device);
    if (!o.device)
      return fail(app, exit_usage, fmt::format("'{}' is not a device like /dev/nbd0 or /dev/ublkb0", c.device));
    const auto kind = ublk ? daemon::KernelDeviceKind::ublk : daemon::KernelDeviceKind::nbd;
    if (o.kernel_device != daemon::KernelDeviceKind::automatic && o.kernel_device != kind)
      return fail(app, exit_usage, fmt::format("--device {} and --kernel-device {} disagree", c.device,
                                               c.kernel_device));
    o.kernel_device = kind;
  }
  attach.discovery_window = std::chrono::milliseconds(std::lround(c.timeout * 1000));
  attach.rediscover_interval = std::chrono::seconds(c.rediscover);
  attach.engine.deadline = std::chrono::milliseconds(std::llround(o.deadline_seconds * 1000));
  attach.engine.in_order_ports = c.in_order_ports;
  attach.export_options.name = o.target;
  attach.export_options.description = "AoE target " + o.target + " (aoe-nbd)";
  attach.export_options.read_only = c.read_only;
  if (o.kernel() && o.connections > 1 && o.deadline_seconds == 0)
    return fail(app, exit_usage,
                "--deadline 0 needs --connections 1: with several sockets the kernel times requests out "
                "and kills their socket");
  // The background process works from "/": a relative path must mean what the caller meant.
  if (!o.kernel()) {
    o.socket_path = std::filesystem::absolute(o.socket_path).string();
    // Before discovery and any claim: a path we cannot listen on costs nothing then.
    if (auto why = daemon::socket_path_problem(o.socket_path)) return fail(app, exit_failed, *why);
  }
  return std::nullopt;
}

// The arguments of the aoe-attach --all starts for `target`: ours as
// given, but for what --all itself means (the patterns, --socket-dir), and
// in the foreground.  Options added later pass through unchanged.
std::vector<std::string> child_arguments(const cli::App& app, const CommandLine& c, const std::string& target) {
  std::vector<std::string> args{"--foreground"};
  for (std::string& a : app.given_options({"--all", "--exclude", "--socket-dir", "--foreground", "--help", "--version"}))
    args.push_back(std::move(a));
  if (!c.socket_dir.empty()) {
    args.push_back("--socket");
    args.push_back((std::filesystem::path(c.socket_dir) / (target + ".sock")).string());
  }
  args.push_back(target);
  return args;
}

int attach_all(cli::App& app, CommandLine& c, daemon::Readiness& readiness) {
  daemon::ShelfOptions shelf;
  shelf.selection = c.selection;
  std::error_code ec;
  shelf.program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) {
    readiness.failed(exit_failed, fmt::format("cannot find our own program (/proc/self/exe): {}", ec.message()));
    return exit_failed;
  }
  if (!c.socket_dir.empty()) {
    c.socket_dir = std::filesystem::absolute(c.socket_dir).string();
    std::filesystem::create_directories(c.socket_dir, ec);
    if (ec) {
      readiness.failed(exit_failed, fmt::format("cannot create {}: {}", c.socket_dir, ec.message()));
      return exit_failed;
    }
  }
  shelf.child_args = [&app, &c](const std::string& target) { return child_arguments(app, c, target); };
  shelf.discovery_window = std::chrono::milliseconds(std::lround(c.timeout * 1000));
  shelf.rediscover_interval = std::chrono::seconds(c.rediscover);
  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  Links links;
  // Interfaces named but absent are left to the children, which open them as they appear.
  std::vector<std::string> absent;
  if (auto code = open_links(io, app, c.common, links, &absent)) {
    readiness.failed(*code, "cannot open the network interfaces (see above)");
    return *code;
  }
  // Our children's I/O answers are none of ours: the kernel keeps them out (docs/shelf.md).
  for (auto& link : links.owned) link->accept_control_only();
  return daemon::run_shelf(io, signals, links.links, shelf, readiness);
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine c;
  // Run from an initramfs, we serve the root file system (aoe-attach(8),
  // ROOT STORAGE): --root-storage is implied.
  c.serve.root_storage = ::access("/etc/initrd-release", F_OK) == 0;
  cli::App app{"Attach an AoE target as a block device (/dev/ublkbN through the kernel's ublk driver, or "
               "/dev/nbdN through its nbd driver) "
               "or serve it as an NBD unix socket.",
               "aoe-attach"};
  add_options(app, c);
  if (auto code = parse(app, c.common, argc, argv)) return *code;
  if (auto code = check(app, c)) return *code;
  daemon::Options& o = c.serve;
  // systemd's mark for storage daemons of the root keeps its killing sprees
  // (the switch to the root, shutdown) away from us; by hand too, for a
  // restart of the root's daemon from its copy in /run.
  if (o.root_storage && argc > 0 && argv[0][0] != '\0') argv[0][0] = '@';

  // A log line to a stderr whose reader went away must fail, not kill the server.
  ::signal(SIGPIPE, SIG_IGN);
  daemon::Readiness readiness = c.foreground ? daemon::Readiness::foreground() : daemon::Readiness::daemonize();
  if (c.all) return attach_all(app, c, readiness);
  if (o.kernel() || o.root_storage) daemon::harden_for_kernel_io(o.root_storage);

  boost::asio::io_context io;
  // From here on a SIGINT/SIGTERM waits until serving begins, then stops it cleanly.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  Links links;
  if (auto code = open_links(io, app, c.common, links, &o.attach.pending_interfaces)) {
    readiness.failed(*code, "cannot open the network interfaces (see above)");
    return *code;
  }
  return daemon::run(io, signals, links.links, o, readiness);
}
