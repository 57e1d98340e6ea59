// aoe-detach: disconnects a /dev/nbdN that aoe-attach made, named either by
// the device or by its AoE target (eS.L, through /dev/etherd/eS.L): refuses
// while it is mounted or held (unless --force), has the aoe-attach serving
// it disconnect and drain (SIGINT, found through its status socket; the
// kernel's disconnect directly when none answers, as for a device whose
// aoe-attach is gone and whose I/O the kernel holds for a successor),
// waits until that process exited and the kernel let go, and removes the
// /dev/etherd link.  A /dev/ublkbN whose aoe-attach is gone (the kernel
// holds its I/O for a successor) is deleted through the ublk driver.  --all detaches every target this host serves, and
// stops the aoe-attach --all that attached them (daemon/shelf.h).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "aoe_version.h"
#include "base/log.h"
#include "initiator/wire.h"
#include "daemon/etherd_link.h"
#include "nbd-bridge/device_usage.h"
#include "nbd-bridge/kernel_attach.h"
#include "daemon/exit_codes.h"
#include "daemon/shelf_pid.h"
#include "daemon/status_client.h"
#include "daemon/status_schema.h"
#include "daemon/ublk_device.h"
#include "daemon/ublk_takeover.h"
#include "tools/cli.h"
#include "tools/usage.h"
#include "tools/validate.h"

namespace {

namespace nbd = aoe::nbd;
namespace daemon = aoe::daemon;
using Clock = std::chrono::steady_clock;
namespace validate = aoe::tools::validate;

// Exit codes (man/aoe-detach.8): 1 in use, or the disconnect failed or did
// not finish in time; 5 no such device, or it holds no connection.
using aoe::exit_failed, aoe::exit_ok, aoe::exit_permission, aoe::exit_usage;
constexpr int exit_not_attached = aoe::exit_not_found;

struct Resolved {
  std::uint32_t index = 0;
  std::optional<std::string> target;  // eS.L when the user named the target
};

int fail(int code, const std::string& message) { return aoe::tools::fail("aoe-detach", code, message); }

bool is_target_name(const std::string& text) {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  return aoe::wire::parse_target(text, shelf, slot);
}

// What the user named -> the nbd index: /dev/nbdN directly, eS.L through its
// /dev/etherd link.
std::optional<Resolved> resolve(const std::string& name, std::error_code& ec) {
  Resolved r;
  auto index = daemon::resolve_device_name(name, r.target, ec);
  if (!index) return std::nullopt;
  r.index = *index;
  return r;
}

// The aoe-attach serving /dev/nbd`index`: its status socket and pid.
struct Daemon {
  std::filesystem::path socket;  // its status socket, which a clean exit removes
  pid_t pid = 0;
};

std::optional<Daemon> find_daemon(const Resolved& r, const std::string& device) {
  std::vector<std::filesystem::path> sockets;
  if (r.target) {
    sockets.push_back(aoe::daemon::status_socket_path(*r.target));
  } else {
    std::error_code ec;
    sockets = aoe::daemon::status_sockets(ec);
  }
  for (const auto& socket : sockets) {
    std::error_code ec;
    auto doc = aoe::daemon::query_status(socket, std::chrono::seconds(2), ec);
    if (doc && doc->value("device", std::string()) == device && doc->value("pid", 0L) > 0)
      return Daemon{socket, static_cast<pid_t>(doc->value("pid", 0L))};
  }
  return std::nullopt;
}

// Exited (a zombie whose parent has not reaped it yet counts): a clean exit
// removed its status socket first; a crash leaves it, and is gone all the same.
bool daemon_gone(const Daemon& d) {
  if (::kill(d.pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(d.pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');  // the name may hold spaces
  return paren != std::string::npos && line.compare(paren, 3, ") Z") == 0;
}

// Removes every /dev/etherd link to /dev/nbd`index` (the user named the device).
void remove_links_to(std::uint32_t index) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(daemon::etherd_dir, ec)) {
    const auto name = entry.path().filename().string();
    std::error_code lec;
    if (is_target_name(name) && daemon::resolve_etherd_link(name, lec) == index)
      if ((lec = daemon::remove_etherd_link(name, index))) aoe::log::warning("aoe-detach: {}: {}", entry.path().string(), lec.message());
  }
}

void remove_links(const Resolved& r) {
  if (!r.target) return remove_links_to(r.index);
  if (auto ec = daemon::remove_etherd_link(*r.target, r.index))
    aoe::log::warning("aoe-detach: {}/{}: {}", daemon::etherd_dir.string(), *r.target, ec.message());
}

// What a daemon that has not exited still waits for, from its status socket.
std::string still_pending(const Daemon& d) {
  std::error_code ec;
  auto doc = aoe::daemon::query_status(d.socket, std::chrono::seconds(2), ec);
  if (!doc) return fmt::format("it does not answer on its status socket {}", d.socket.string());
  return fmt::format("{} request(s) still in flight to {}, which is {}", doc->value("in_flight", 0UL),
                     doc->value("target", std::string("its target")), doc->value("state", std::string("?")));
}

// SIGINT to the aoe-attach `d` and wait until it exited: it disconnects,
// lets the target answer what it has for a moment, fails the rest with EIO
// and exits, whatever its --deadline.  exit_ok, or why not.
int stop_daemon(const Daemon& d, const std::string& what, Clock::time_point deadline, double timeout_seconds) {
  // SIGINT means "detach for good"; SIGTERM would leave a device in use to a
  // restarted aoe-attach (daemon/kernel_serving.cpp).
  if (::kill(d.pid, SIGINT) != 0)
    return fail(errno == EPERM ? exit_permission : exit_failed,
                fmt::format("{}: cannot signal its aoe-attach (pid {}): {}", what, d.pid, std::strerror(errno)));
  while (!daemon_gone(d) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!daemon_gone(d))
    return fail(exit_failed, fmt::format("{}: its aoe-attach (pid {}) has not exited after {} s: {}; it goes on "
                                         "in the background (see its log)", what, d.pid, timeout_seconds,
                                         still_pending(d)));
  return exit_ok;
}

// A target served on an NBD socket (aoe-attach --socket) has no /dev/etherd
// link: its status socket names it.  Nothing if it is not served that way.
std::optional<int> detach_socket_attach(const std::string& target, double timeout_seconds, bool force) {
  const auto socket = daemon::status_socket_path(target);
  std::error_code ec;
  auto doc = daemon::query_status(socket, std::chrono::seconds(2), ec);
  if (!doc) return std::nullopt;
  const std::string served = doc->value("device", std::string());
  const long pid = doc->value("pid", 0L);
  if (served.empty() || nbd::parse_device_path(served) || pid <= 0) return std::nullopt;
  // A /dev/ublkbN: its aoe-attach stops it on SIGINT, and the same writes are at stake.
  if (served.starts_with("/dev/ublkb"))
    if (auto why = nbd::block_device_in_use(served.substr(5)); why && !force)
      return fail(exit_failed, fmt::format("{} is {}: unmount it (or stop its user) first, or detach anyway "
                                           "with --force, losing writes not yet on the target", served, *why));
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_seconds));
  return stop_daemon(Daemon{socket, static_cast<pid_t>(pid)}, fmt::format("{} (on {})", target, served), deadline,
                     timeout_seconds);
}

// A /dev/ublkbN of `target` (or the device `id`) that no aoe-attach serves:
// its server died or left it, and the kernel holds its I/O for a successor.
// DEL_DEV stops it (what it holds fails) and deletes it.  Nothing where no
// such device exists; the driver is not loaded for the asking.
std::optional<int> detach_orphaned_ublk(const std::optional<std::string>& target, std::optional<std::uint32_t> id,
                                        bool force) {
  if (::access(daemon::ublk_control_path, F_OK) != 0) return std::nullopt;
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  if (target && !aoe::wire::parse_target(*target, shelf, slot)) return std::nullopt;
  std::error_code ec;
  auto control = daemon::UblkControl::open(ec);
  if (!control) return std::nullopt;
  for (const std::uint32_t candidate : daemon::UblkControl::devices()) {
    aoe::ublk::DevInfo info;
    if (control->info(candidate, info)) continue;
    const auto marked = daemon::target_of_ublk_mark(info.ublksrv_flags);
    if (!marked || (id && candidate != *id) || (target && (marked->shelf != shelf || marked->slot != slot)))
      continue;
    const std::string device = daemon::ublk_block_path(candidate);
    const std::string name = aoe::wire::format_target(marked->shelf, marked->slot);
    if (info.ublksrv_pid > 0 && ::kill(info.ublksrv_pid, 0) == 0)
      return fail(exit_failed, fmt::format("{} ({}) is served by pid {}, which does not answer as an aoe-attach; "
                                           "stop that process", device, name, info.ublksrv_pid));
    if (auto why = nbd::block_device_in_use(device.substr(5)); why && !force)
      return fail(exit_failed, fmt::format("{} is {}: unmount it (or stop its user) first, or detach anyway "
                                           "with --force, failing the I/O the kernel holds for it", device, *why));
    if ((ec = control->remove(candidate)))
      return fail(ec == std::errc::operation_not_permitted ? exit_permission : exit_failed,
                  fmt::format("{}: DEL_DEV: {}", device, ec.message()));
    if (auto lec = daemon::remove_etherd_link_to(name, device))
      aoe::log::debug("aoe-detach: {}/{}: {}", daemon::etherd_dir.string(), name, lec.message());
    return exit_ok;
  }
  return std::nullopt;
}

int detach(std::string name, double timeout_seconds, bool force) {
  if (auto id = daemon::parse_ublk_path(name)) {
    if (auto code = detach_orphaned_ublk(std::nullopt, id, force)) return *code;
    // One an aoe-attach serves: through its status socket, by its target.
    std::error_code ec;
    for (const auto& socket : daemon::status_sockets(ec)) {
      auto doc = daemon::query_status(socket, std::chrono::seconds(2), ec);
      if (doc && doc->value("device", std::string()) == daemon::ublk_block_path(*id))
        if (auto code = detach_socket_attach(doc->value("target", std::string()), timeout_seconds, force))
          return *code;
    }
    return fail(exit_not_attached, fmt::format("{}: not attached", name));
  }
  if (!nbd::parse_device_path(name))
    if (auto why = validate::target_name(name))
      return fail(exit_usage, fmt::format("{}; or name the device /dev/nbdN or /dev/ublkbN", *why));
  // "e01.2" names e1.2's link and status socket, as aoe-attach spelt them.
  if (auto target = aoe::wire::canonical_target(name)) {
    name = *target;
    if (auto code = detach_socket_attach(name, timeout_seconds, force)) return *code;
    if (auto code = detach_orphaned_ublk(name, std::nullopt, force)) return *code;
  }
  std::error_code ec;
  const auto r = resolve(name, ec);
  if (!r) {
    if (ec == daemon::etherd_errc::not_a_target_name)
      return fail(exit_usage, fmt::format("{}: not /dev/nbdN or an AoE target name eSHELF.SLOT", name));
    if (ec == std::errc::no_such_file_or_directory)
      return fail(exit_not_attached, fmt::format("{}: not attached (no {}/{})", name,
                                                 daemon::etherd_dir.string(), name));
    return fail(exit_failed, fmt::format("{}: {}", name, ec.message()));
  }
  const std::string device = "/dev/nbd" + std::to_string(r->index);

  auto state = nbd::status(r->index, ec);
  if (ec) return fail(exit_failed, fmt::format("{}: status: {}", device, ec.message()));
  if (state == nbd::DeviceStatus::missing) return fail(exit_not_attached, fmt::format("{}: no such device", device));
  if (state == nbd::DeviceStatus::disconnected) {
    remove_links(*r);  // a link left behind by a crashed aoe-attach
    return fail(exit_not_attached, fmt::format("{}: not attached", device));
  }

  // Outstanding and cached writes of a mounted file system would be lost.
  if (auto why = nbd::in_use(r->index); why && !force)
    return fail(exit_failed, fmt::format("{} is {}: unmount it (or stop its user) first, or detach anyway "
                                         "with --force, losing writes not yet on the target", device, *why));

  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  // Its aoe-attach disconnects the device itself on SIGINT and drains;
  // without one (gone, or no status socket), the kernel is told directly, as
  // for a device whose I/O the kernel holds for a successor.
  const auto daemon = find_daemon(*r, device);
  bool tell_kernel = !daemon;
  if (daemon) {
    if (int code = stop_daemon(*daemon, device, deadline, timeout_seconds)) return code;
    // One that crashed while draining left its status socket behind, and
    // perhaps the kernel holding its dead connections.
    std::error_code exists_ec;
    tell_kernel = std::filesystem::exists(daemon->socket, exists_ec) &&
                  nbd::status(r->index, ec) == nbd::DeviceStatus::connected;
  }
  if (tell_kernel && (ec = nbd::disconnect(r->index))) {
    const int code = ec == nbd::attach_errc::permission_denied ? exit_permission : exit_failed;
    return fail(code, fmt::format("{}: {}", device, ec.message()));
  }
  // The kernel drops the configuration once the sockets are shut and the
  // last opener is gone: a mounted filesystem keeps it (docs/nbd-protocol.md §5.3).
  while ((state = nbd::status(r->index, ec)) == nbd::DeviceStatus::connected && !ec && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (ec) return fail(exit_failed, fmt::format("{}: status: {}", device, ec.message()));
  if (state == nbd::DeviceStatus::connected)
    return fail(exit_failed, fmt::format("{}: disconnect sent, but still in use after {} s (mounted or held "
                                         "open?)", device, timeout_seconds));
  remove_links(*r);
  return exit_ok;
}

// Every target served here, each as aoe-detach NAME would; then, all of
// them gone, the aoe-attach --all that would attach new ones.  First
// the targets: a child detached this way exits 0, which aoe-attach --all
// takes as final, while stopping it first would leave each device in use
// to a successor (SIGTERM) that never comes.
int detach_all(double timeout_seconds, bool force) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& socket : daemon::status_sockets(ec))
    if (auto target = aoe::wire::canonical_target(socket.stem().string())) names.push_back(*target);
  // Devices whose aoe-attach is gone, the kernel holding their I/O.
  for (const auto& b : nbd::backends())
    if (b.id.starts_with("aoe-nbd:") && std::find(names.begin(), names.end(), b.id.substr(8)) == names.end())
      names.push_back(nbd::device_path_of(b.index));
  int result = exit_ok;
  for (const auto& name : names) {
    const int code = detach(name, timeout_seconds, force);
    if (code != exit_ok && code != exit_not_attached && result == exit_ok) result = code;
  }
  const auto shelf = daemon::running_shelf();
  if (!shelf || result != exit_ok) return result;
  if (::kill(*shelf, SIGTERM) != 0)
    return fail(errno == EPERM ? exit_permission : exit_failed,
                fmt::format("cannot signal aoe-attach --all (pid {}): {}", *shelf, std::strerror(errno)));
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_seconds));
  while (daemon::running_shelf() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (daemon::running_shelf())
    return fail(exit_failed, fmt::format("aoe-attach --all (pid {}) still runs after {} s", *shelf, timeout_seconds));
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  aoe::tools::cli::App app{"Detach an AoE target attached as /dev/nbdN by aoe-attach (or served on a socket)", "aoe-detach"};
  app.set_version_flag("--version", std::string("aoe-detach ") + AOE_NBD_VERSION);
  std::string name;
  double timeout_seconds = 10;
  bool all = false;
  auto* device = app.add_option("DEVICE", name, "/dev/nbdN, or the AoE target eSHELF.SLOT");
  app.add_flag("--all", all, "Detach every target attached on this host, and stop aoe-attach --all")
      ->excludes(device);
  app.add_option("-t,--timeout", timeout_seconds,
                 "Seconds to wait for aoe-attach to drain and exit and the kernel to let go")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(validate::Number(0.1, 3600));
  bool force = false;
  app.add_flag("--force", force, "detach even if the device is mounted or held (its pending writes are lost)");
  if (auto code = app.parse(argc, argv)) return *code;
  if (all) return detach_all(timeout_seconds, force);
  if (name.empty()) return fail(exit_usage, "name the device (/dev/nbdN or eSHELF.SLOT), or detach every one with --all");
  return detach(name, timeout_seconds, force);
}
