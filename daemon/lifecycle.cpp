#include "daemon/lifecycle.h"

#include <sys/utsname.h>

#include <memory>

#include <fmt/core.h>

#include "daemon/attached_target.h"
#include "daemon/claim.h"
#include "daemon/exit_codes.h"
#include "daemon/kernel_device_choice.h"
#include "daemon/kernel_serving.h"
#include "daemon/socket_serving.h"
#include "daemon/status_client.h"
#include "daemon/status_endpoint.h"
#include "daemon/status_schema.h"
#include "daemon/ublk_device.h"
#include "daemon/ublk_serving.h"
#include "base/log.h"
#include "initiator/wire.h"
#include "nbd-bridge/kernel_attach.h"

namespace aoe::daemon {

namespace {

// Another aoe-attach already serving the target here, asked before any
// frame is sent.  One that serves the root file system (started in the
// initramfs) is the target's server for the life of the system: the unit
// started for the same target after the switch to the root is told so and
// succeeds, having nothing to do; any other is a second initiator of one
// disk on one host, refused.  Nothing when nobody answers.
std::optional<int> already_served(const Options& o, Readiness& readiness) {
  std::error_code ec;
  const auto other = query_status(status_socket_path(o.target), std::chrono::seconds(2), ec);
  if (!other) return std::nullopt;  // none, or stale: StatusEndpoint::open decides later
  const long pid = other->value("pid", 0L);
  const std::string device = other->value("device", std::string());
  if (other->value("root_storage", false)) {
    log::notice("{} is served by the root storage daemon (pid {}) as {}: nothing to do", o.target, pid, device);
    readiness.ready(device);
    return exit_ok;
  }
  readiness.failed(exit_failed, fmt::format("{} is already served by another aoe-attach (pid {}, {}); one host "
                                            "serves a target once (aoe-stat {})",
                                            o.target, pid, device, o.target));
  return exit_failed;
}

}  // namespace

int run(boost::asio::io_context& io, boost::asio::signal_set& signals, const std::vector<Link*>& links,
        const Options& o, Readiness& readiness) {
  const bool claiming = o.claim || o.force_claim;
  AttachOptions attach = o.attach;
  if (claiming) attach.claim_identity = host_identity(links);  // what claim() writes, rechecked while serving
  // A failure from here on must not leave the target claimed by nobody
  // serving it, unless the claim is our sibling's (see below).
  // Nor one whose device waits for the next aoe-attach: the claim goes with it.
  Served served;
  auto finish = [&](int code, bool was_ready) {
    const auto name = wire::canonical_target(o.target).value_or(o.target);
    const bool device_waits = o.kernel() && (served.kept || nbd::find_backend("aoe-nbd:" + name));
    if (claiming && !o.keep_claim && (code == exit_ok || !was_ready) && !device_waits) {
      io.restart();
      auto released = release(io, links, attach.shelf, attach.slot, attach.discovery_window, attach.claim_identity);
      if (!released.ok()) log::warning("{}", released.message);
    }
    return code;
  };
  // SIGINT or SIGTERM before serving (the waiting parent passes Ctrl-C on
  // as SIGTERM) cancels the attach; each step toward serving checks, and the
  // serving code takes the signals over after the last check.
  int cancelled_by = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) cancelled_by = sig;
  });
  auto cancelled = [&] {
    if (cancelled_by == 0) return false;
    readiness.failed(exit_failed, fmt::format("cancelled by signal {} before serving {}", cancelled_by, o.target));
    return true;
  };
  if (auto code = already_served(o, readiness)) return *code;
  std::string names;
  for (const Link* l : links) names += (names.empty() ? "" : ", ") + l->info().name;
  readiness.status(fmt::format("searching for {} on {}", o.target, names.empty() ? "(interfaces to come)" : names));
  if (claiming) {
    auto claimed = claim(io, links, attach.shelf, attach.slot, o.force_claim ? ClaimMode::force : ClaimMode::normal,
                         attach.discovery_window, attach.claim_identity);
    if (!claimed.ok()) {
      const int code = claim_exit_code(claimed);
      readiness.failed(code, claimed.message);
      return code;
    }
    io.restart();
    if (cancelled()) return finish(exit_failed, false);
  }
  std::string error;
  auto target = AttachedTarget::open(io, links, attach, error, [&] { return cancelled_by != 0; });
  if (!target) {
    if (cancelled()) return finish(exit_failed, false);
    readiness.failed(exit_not_found, error);
    return finish(exit_not_found, false);
  }
  std::error_code status_ec;
  auto status = StatusEndpoint::open(
      io, o.target,
      [&] {
        auto json = status_json(target->engine(), served.device);
        json["claim"] = to_string(target->claim_state());
        json["root_storage"] = o.root_storage;
        return json;
      },
      status_ec, error);
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
  if (cancelled()) return finish(exit_failed, false);
  // Serving handles signals from here; the handler above is done with.
  boost::system::error_code ignored;
  signals.cancel(ignored);
  std::optional<int> ublk_code;  // ublk served, or failed to choose; else nbd or a socket serves
  if (o.kernel()) {
    std::unique_ptr<UblkControl> control;
    struct utsname uts {};
    ::uname(&uts);
    const auto choice = choose_kernel_device(o.kernel_device, o.root_storage, uts.release, o.target, [&] {
      std::error_code ec;
      control = UblkControl::open(ec);
      return ec;
    });
    if (choice.exit_code != exit_ok) {
      readiness.failed(choice.exit_code, choice.why);
      target->stop([&] { io.stop(); });
      io.run();
      ublk_code = choice.exit_code;
    } else {
      if (choice.warn) log::warning("{}", choice.why);
      else if (!choice.why.empty()) log::notice("{}", choice.why);
      if (choice.device == KernelDeviceKind::ublk)
        ublk_code = serve_ublk(io, signals, *target, o, std::move(control), readiness, served);
    }
  }
  const int code = ublk_code      ? *ublk_code
                   : !o.kernel() ? serve_socket(io, signals, *target, o, readiness, served)
                                 : serve_kernel(io, signals, *target, o, readiness, served);
  status.reset();
  target.reset();
  // A device that failed while serving may still have a mounted file system: keep the claim.
  return finish(code, served.ready);
}

}  // namespace aoe::daemon
