// aoe-detach: disconnects a /dev/nbdN that aoe-attach made, named either by
// the device or by its AoE target (eS.L, through /dev/etherd/eS.L), waits
// until the kernel let go of it and removes the /dev/etherd link.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "aoe_version.h"
#include "initiator/wire.h"
#include "nbd-bridge/kernel_attach.h"

namespace {

namespace nbd = aoe::nbd;

// Exit codes (man/aoe-detach.8).
enum Exit : int {
  exit_ok = 0,
  exit_failed = 1,        // the disconnect failed or did not finish in time
  exit_usage = 2,         // bad argument
  exit_not_attached = 3,  // no such device, or it holds no connection
  exit_permission = 4,    // needs root (CAP_SYS_ADMIN)
};

struct Resolved {
  std::uint32_t index = 0;
  std::optional<std::string> target;  // eS.L when the user named the target
};

int fail(int code, const std::string& message) {
  fmt::print(stderr, "aoe-detach: {}\n", message);
  return code;
}

bool is_target_name(const std::string& text) {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  return aoe::wire::parse_target(text, shelf, slot);
}

// What the user named -> the nbd index: /dev/nbdN directly, eS.L through its
// /dev/etherd link.  This is the one place that knows how names resolve; the
// control socket of a running aoe-attach can answer eS.L here as well.
std::optional<Resolved> resolve(const std::string& name, std::error_code& ec) {
  ec.clear();
  if (auto index = nbd::parse_device_path(name)) return Resolved{*index, std::nullopt};
  if (!is_target_name(name)) {
    ec = nbd::attach_errc::not_a_target_name;
    return std::nullopt;
  }
  auto index = nbd::resolve_etherd_link(name, ec);
  if (!index) return std::nullopt;
  return Resolved{*index, name};
}

// Removes every /dev/etherd link to /dev/nbd`index` (the user named the device).
void remove_links_to(std::uint32_t index) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(nbd::etherd_dir, ec)) {
    const auto name = entry.path().filename().string();
    std::error_code lec;
    if (is_target_name(name) && nbd::resolve_etherd_link(name, lec) == index)
      if ((lec = nbd::remove_etherd_link(name, index)))
        fmt::print(stderr, "aoe-detach: {}: {}\n", entry.path().string(), lec.message());
  }
}

void remove_links(const Resolved& r) {
  if (!r.target) return remove_links_to(r.index);
  if (auto ec = nbd::remove_etherd_link(*r.target, r.index))
    fmt::print(stderr, "aoe-detach: {}/{}: {}\n", nbd::etherd_dir.string(), *r.target, ec.message());
}

int detach(const std::string& name, unsigned timeout_seconds) {
  std::error_code ec;
  const auto r = resolve(name, ec);
  if (!r) {
    if (ec == nbd::attach_errc::not_a_target_name)
      return fail(exit_usage, fmt::format("{}: not /dev/nbdN or an AoE target name eSHELF.SLOT", name));
    if (ec == std::errc::no_such_file_or_directory)
      return fail(exit_not_attached, fmt::format("{}: not attached (no {}/{})", name,
                                                 nbd::etherd_dir.string(), name));
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

  if ((ec = nbd::disconnect(r->index))) {
    const int code = ec == nbd::attach_errc::permission_denied ? exit_permission : exit_failed;
    return fail(code, fmt::format("{}: {}", device, ec.message()));
  }
  // The kernel drops the configuration once the sockets are shut and the
  // last opener is gone: a mounted filesystem keeps it (doc nbd-protocol §5.3).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while ((state = nbd::status(r->index, ec)) == nbd::DeviceStatus::connected && !ec &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (ec) return fail(exit_failed, fmt::format("{}: status: {}", device, ec.message()));
  if (state == nbd::DeviceStatus::connected)
    return fail(exit_failed, fmt::format("{}: disconnect sent, but still in use after {} s (mounted or held "
                                         "open?)", device, timeout_seconds));
  remove_links(*r);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Detach an AoE target attached as /dev/nbdN by aoe-attach"};
  app.set_version_flag("--version", std::string("aoe-detach ") + AOE_NBD_VERSION);
  std::string name;
  unsigned timeout_seconds = 10;
  app.add_option("DEVICE", name, "/dev/nbdN, or the AoE target eSHELF.SLOT")->required();
  app.add_option("-t,--timeout", timeout_seconds, "seconds to wait for the kernel to let go")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  return detach(name, timeout_seconds);
}
