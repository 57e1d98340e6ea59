#include "discovery/discover.h"

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "base/log.h"

namespace aoe::discovery {
namespace {

namespace asio = boost::asio;

// One IDENTIFY through one target port.
struct Probe {
  std::size_t target;  // index into the targets
  Link* link;
  wire::Mac mac;
  Result<Identity> result;
};

Task<void> run_probe(Control& control, Probe& probe, const TargetInfo& target) {
  probe.result = co_await control.identify(*probe.link, probe.mac, target.shelf, target.slot);
}

// Probes every distinct port of every target at once: a silent port costs
// its timeout once, not once per target.  Bounded (DiscoverOptions): the
// ports beyond are not identified, hence not used.
Task<std::vector<Probe>> identify_all(Control& control, const std::vector<TargetInfo>& targets,
                                      const DiscoverOptions& options) {
  std::vector<Probe> probes;
  std::size_t skipped = 0;
  for (std::size_t t = 0; t < targets.size(); ++t) {
    std::set<wire::Mac> ports;
    for (const PathInfo& path : targets[t].paths) {
      if (ports.count(path.target_mac)) continue;
      if (ports.size() >= options.max_ports_per_target || probes.size() >= options.max_identifies) {
        ++skipped;
        continue;
      }
      ports.insert(path.target_mac);
      probes.push_back({t, path.link, path.target_mac, {}});
    }
  }
  if (skipped > 0)
    log::warning("{} target ports not identified, hence not used: at most {} per target and {} in all are "
                 "(a flood of forged answers on the segment?)",
                 skipped, options.max_ports_per_target, options.max_identifies);

  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  std::size_t running = probes.size();
  for (Probe& probe : probes)
    asio::co_spawn(executor, run_probe(control, probe, targets[probe.target]),
                   [&](std::exception_ptr) {
                     if (--running == 0) all_done.cancel();
                   });
  if (running > 0) {
    boost::system::error_code ignored;  // cancelled by the last probe
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  co_return probes;
}

bool same_drive(const Identity& a, const Identity& b) { return a.serial == b.serial && a.model == b.model; }

bool same_disk(const Identity& a, const Identity& b) { return a.sectors == b.sectors && same_drive(a, b); }

}  // namespace

std::vector<TargetInfo> merge_answers(const std::vector<ConfigInfo>& answers,
                                      const std::vector<TargetId>& only) {
  std::map<std::pair<std::uint16_t, std::uint8_t>, TargetInfo> by_id;
  std::set<std::tuple<std::uint16_t, std::uint8_t, const Link*, wire::Mac>> seen;
  for (const ConfigInfo& a : answers) {
    // Linux ignores answers carrying a broadcast value (docs/aoe-protocol.md §2.3).
    if (a.shelf == wire::broadcast_shelf || a.slot == wire::broadcast_slot) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), TargetId{a.shelf, a.slot}) == only.end())
      continue;
    TargetInfo& target = by_id[{a.shelf, a.slot}];
    target.shelf = a.shelf;
    target.slot = a.slot;
    if (!seen.insert({a.shelf, a.slot, a.link, a.mac}).second) continue;
    target.paths.push_back(PathInfo{a.link, a.mac, a.buffer_count, a.max_sectors, a.firmware_version,
                                    a.aoe_version, a.config_string});
  }
  std::vector<TargetInfo> targets;
  for (auto& [id, target] : by_id) {
    // Answers arrive in any order; list paths the same way every time.
    std::sort(target.paths.begin(), target.paths.end(), [](const PathInfo& a, const PathInfo& b) {
      return std::pair(a.link->info().ifindex, a.target_mac) < std::pair(b.link->info().ifindex, b.target_mac);
    });
    targets.push_back(std::move(target));
  }
  return targets;
}

namespace {

// The identity every port must show.  Without `expected`, the first port's
// that answered.  With it (rediscovery), the attached disk: at its old
// capacity while any port still reports that, so another disk of another
// size cannot pass for a resize; at a new one only when no port reports
// the old one (the target was resized).
const Identity* reference_identity(const std::vector<PortIdentity>& ports, const std::optional<Identity>& expected) {
  const Identity* resized = nullptr;
  for (const PortIdentity& port : ports) {
    if (port.identity.error) continue;
    if (!expected) return &port.identity.value;
    if (!same_drive(*expected, port.identity.value)) continue;
    if (port.identity.value.sectors == expected->sectors) return &port.identity.value;
    if (!resized) resized = &port.identity.value;
  }
  return resized;
}

}  // namespace

std::vector<Conflict> apply_identities(TargetInfo& target, const std::vector<PortIdentity>& ports,
                                       const std::optional<Identity>& expected) {
  std::vector<Conflict> conflicts;
  std::vector<wire::Mac> unusable;
  const Identity* reference = reference_identity(ports, expected);
  if (reference) target.identity = *reference;
  for (const PortIdentity& port : ports) {
    if (port.identity.error) {
      log::warning("{}: port {} does not answer IDENTIFY ({}); not used", target.name(),
                   wire::format_mac(port.mac), port.identity.error.message());
      unusable.push_back(port.mac);
    } else if (!reference || !same_disk(*reference, port.identity.value)) {
      auto path = std::find_if(target.paths.begin(), target.paths.end(),
                               [&](const PathInfo& p) { return p.target_mac == port.mac; });
      conflicts.push_back(Conflict{{target.shelf, target.slot},
                                   path == target.paths.end() ? nullptr : path->link,
                                   port.mac,
                                   reference ? *reference : *expected,
                                   port.identity.value});
      unusable.push_back(port.mac);
    }
  }
  std::erase_if(target.paths, [&](const PathInfo& p) {
    return std::find(unusable.begin(), unusable.end(), p.target_mac) != unusable.end();
  });
  return conflicts;
}

std::string describe(const Conflict& c) {
  auto disk = [](const Identity& i) {
    return fmt::format("{} sectors, model \"{}\", serial \"{}\"", i.sectors, i.model, i.serial);
  };
  return fmt::format("{}: port {} on {} answers as another disk ({}; the target is {}); ignored",
                     wire::format_target(c.target.shelf, c.target.slot), wire::format_mac(c.mac),
                     c.link ? c.link->info().name : "?", disk(c.found), disk(c.expected));
}

Task<DiscoverResult> async_discover(Control& control, std::vector<Link*> links, DiscoverOptions options) {
  // One wanted target: ask only it (docs/aoe-protocol.md §4.3); otherwise everyone.
  TargetId ask{wire::broadcast_shelf, wire::broadcast_slot};
  if (options.only.size() == 1) ask = options.only.front();
  std::vector<ConfigInfo> answers =
      co_await control.query_config_broadcast(std::move(links), options.window, ask.shelf, ask.slot);

  DiscoverResult result;
  result.targets = merge_answers(answers, options.only);
  std::vector<Probe> probes = co_await identify_all(control, result.targets, options);
  for (std::size_t t = 0; t < result.targets.size(); ++t) {
    std::vector<PortIdentity> ports;
    for (const Probe& p : probes)
      if (p.target == t) ports.push_back({p.mac, p.result});
    std::erase_if(result.targets[t].paths, [&](const PathInfo& path) {  // beyond the bound: not identified
      return std::none_of(ports.begin(), ports.end(), [&](const PortIdentity& p) { return p.mac == path.target_mac; });
    });
    for (Conflict& c : apply_identities(result.targets[t], ports, options.expected))
      result.conflicts.push_back(std::move(c));
  }
  std::erase_if(result.targets, [](const TargetInfo& t) { return t.paths.empty(); });
  co_return result;
}

DiscoverResult discover(boost::asio::io_context& io, const std::vector<Link*>& links,
                        const DiscoverOptions& options) {
  return run_control<DiscoverResult>(io, links, [&](Control& control) { return async_discover(control, links, options); });
}

}  // namespace aoe::discovery
