#include "daemon/claim.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <utility>

#include <fmt/core.h>

#include "initiator/errors.h"
#include "base/log.h"
#include "daemon/exit_codes.h"
#include "daemon/permanent_mac.h"

namespace aoe::daemon {

using discovery::Control;
using discovery::TargetPort;
using discovery::Task;

namespace {

constexpr std::string_view prefix = "aoe-nbd:";

ClaimResult held(std::string_view target, std::string holder, const TargetPort& port) {
  ClaimResult r;
  r.status = ClaimResult::Status::held;
  r.message = held_message(target, holder, port);
  r.holder = std::move(holder);
  return r;
}

ClaimResult failed(std::string message) {
  ClaimResult r;
  r.message = std::move(message);
  return r;
}

}  // namespace

int claim_exit_code(const ClaimResult& result) {
  switch (result.status) {
    case ClaimResult::Status::ok: return exit_ok;
    case ClaimResult::Status::held: return exit_claimed;
    case ClaimResult::Status::not_found: return exit_not_found;
    case ClaimResult::Status::error: break;
  }
  return exit_failed;
}

namespace {

Task<ClaimResult> find_and_claim(Control& control, std::vector<Link*> links, std::uint16_t shelf,
                                 std::uint8_t slot, std::chrono::milliseconds window, std::string identity,
                                 ClaimMode mode) {
  auto ports = co_await discovery::find_ports(control, std::move(links), shelf, slot, window);
  co_return co_await async_claim(control, std::move(ports), shelf, slot, std::move(identity), mode);
}

Task<ClaimResult> find_and_release(Control& control, std::vector<Link*> links, std::uint16_t shelf,
                                   std::uint8_t slot, std::chrono::milliseconds window, std::string identity) {
  auto ports = co_await discovery::find_ports(control, std::move(links), shelf, slot, window);
  co_return co_await async_release(control, std::move(ports), shelf, slot, std::move(identity));
}

}  // namespace

// The MAC part of an identity make_identity() made: 12 hex digits after the
// last colon, never all zeroes.  Empty for any other string.
std::string_view claimant_mac(std::string_view identity) {
  if (!identity.starts_with(prefix)) return {};
  const auto colon = identity.rfind(':');
  const std::string_view mac = identity.substr(colon + 1);
  if (colon < prefix.size() || mac.size() != 12 || mac == "000000000000" ||
      mac.find_first_not_of("0123456789abcdef") != std::string_view::npos)
    return {};
  return mac;
}

bool same_claimant(std::string_view a, std::string_view b) {
  if (a == b) return true;
  const auto mac = claimant_mac(a);
  return !mac.empty() && mac == claimant_mac(b);
}

ClaimAction decide_claim(std::string_view current, std::string_view ours, ClaimMode mode) {
  if (same_claimant(current, ours)) return ClaimAction::already_ours;
  if (mode == ClaimMode::force) return ClaimAction::overwrite;
  if (current.empty()) return ClaimAction::set_if_empty;
  return ClaimAction::refuse;
}

ReleaseAction decide_release(std::string_view current, std::string_view ours) {
  if (current.empty()) return ReleaseAction::already_clear;
  return same_claimant(current, ours) ? ReleaseAction::clear : ReleaseAction::not_ours;
}

const TargetPort* first_not_ours(const std::vector<TargetPort>& ports, std::string_view ours) {
  auto it = std::find_if(ports.begin(), ports.end(), [&](const TargetPort& p) { return !same_claimant(p.config_string, ours); });
  return it == ports.end() ? nullptr : &*it;
}

std::string make_identity(std::string_view hostname, std::string_view machine_id, const wire::Mac& mac) {
  return fmt::format("{}{}:{}:{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", prefix, hostname, machine_id, mac[0], mac[1],
                     mac[2], mac[3], mac[4], mac[5]);
}

std::optional<std::string> identity_host(std::string_view identity) {
  if (!identity.starts_with(prefix)) return std::nullopt;
  identity.remove_prefix(prefix.size());
  auto colon = identity.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return std::string(identity.substr(0, colon));
}

std::string host_identity(const std::vector<Link*>& links) {
  if (const char* env = std::getenv("AOE_NBD_IDENTITY"); env && *env)
    return std::string(env).substr(0, wire::max_config_string);
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string machine_id;
  std::ifstream in("/etc/machine-id");
  std::getline(in, machine_id);
  while (!machine_id.empty() && (machine_id.back() == ' ' || machine_id.back() == '\r'))
    machine_id.pop_back();
  std::optional<wire::Mac> lowest;
  for (const Link* link : links) {
    const wire::Mac mac = permanent_mac(link->info().name).value_or(link->info().mac);
    if (!lowest || mac < *lowest) lowest = mac;
  }
  return make_identity(host, machine_id, lowest.value_or(wire::Mac{}));
}

std::string held_message(std::string_view target, std::string_view holder, const TargetPort& port) {
  auto host = identity_host(holder);
  return fmt::format("{} is claimed by \"{}\"{} (config string of port {}); if that host no longer uses "
                     "it, override with --force-claim",
                     target, holder, host ? fmt::format(" (host {})", *host) : std::string{}, port.name());
}

Task<ClaimResult> async_claim(Control& control, std::vector<TargetPort> ports, std::uint16_t shelf,
                              std::uint8_t slot, std::string identity, ClaimMode mode) {
  const std::string target = wire::format_target(shelf, slot);
  if (ports.empty()) {
    auto result = failed(fmt::format("{}: no port answered Query Config; nothing claimed", target));
    result.status = ClaimResult::Status::not_found;
    co_return result;
  }
  if (identity.empty() || identity.size() > wire::max_config_string)
    co_return failed(fmt::format("{}: claim identity must be 1 to {} bytes", target, wire::max_config_string));

  ClaimResult result;
  result.status = ClaimResult::Status::ok;
  std::vector<TargetPort> written;  // ports this call took from empty: undone if another port refuses
  for (const TargetPort& port : ports) {
    const ClaimAction action = decide_claim(port.config_string, identity, mode);
    if (action == ClaimAction::already_ours) {
      log::info("{}: port {} already carries our claim", target, port.name());
      continue;
    }
    if (action == ClaimAction::refuse) {
      result = held(target, port.config_string, port);
      break;
    }
    auto ccmd = action == ClaimAction::overwrite ? wire::ConfigCommand::force_set : wire::ConfigCommand::set_if_empty;
    auto r = co_await control.query_config(*port.link, port.mac, shelf, slot, ccmd, identity);
    if (r.error == errc::aoe_config_string_present) {
      // Someone wrote between our read and our set (docs/aoe-protocol.md §4.2: CCmd 3 is the
      // target's atomic test-and-set), or the target refuses an equal set.
      auto now = co_await control.query_config(*port.link, port.mac, shelf, slot);
      if (!now.error && now.value.config_string == identity) continue;
      if (!now.error) {
        result = held(target, now.value.config_string, port);
        break;
      }
      r.error = now.error;
    }
    if (r.error) {
      result = failed(fmt::format("{}: cannot write the claim on port {}: {}", target, port.name(),
                                  discovery::describe_error(r.error, "Query Config")));
      break;
    }
    if (r.value.config_string != identity) {  // answered, but did not store it
      result = failed(fmt::format("{}: port {} did not store the claim (it holds \"{}\")", target, port.name(),
                                  r.value.config_string));
      break;
    }
    if (action == ClaimAction::overwrite && !port.config_string.empty())
      log::warning("{}: port {}: took the claim over from \"{}\"", target, port.name(), port.config_string);
    if (action == ClaimAction::set_if_empty) written.push_back(TargetPort{port.link, port.mac, identity});
  }
  if (!result.ok() && !written.empty()) {
    auto undone = co_await async_release(control, std::move(written), shelf, slot, identity);
    if (!undone.ok()) log::warning("{}", undone.message);
  }
  if (result.ok()) log::notice("{}: claimed as \"{}\" on {} port(s)", target, identity, ports.size());
  co_return result;
}

Task<ClaimResult> async_release(Control& control, std::vector<TargetPort> ports, std::uint16_t shelf,
                                std::uint8_t slot, std::string identity) {
  const std::string target = wire::format_target(shelf, slot);
  if (ports.empty()) co_return failed(fmt::format("{}: no port answered Query Config; claim not released", target));
  ClaimResult result;
  result.status = ClaimResult::Status::ok;
  for (const TargetPort& port : ports) {
    // Read the string again right before clearing it: `ports` may be a whole
    // discovery window old, and another host may have forced its claim since.
    // AoE has no compare-and-clear (docs/aoe-protocol.md §4.2), so a force
    // claim landing between this read and our force set is still erased; the
    // window is one round trip.
    std::string current = port.config_string;
    if (decide_release(current, identity) == ReleaseAction::clear) {
      auto now = co_await control.query_config(*port.link, port.mac, shelf, slot);
      if (now.error) {  // unknown now: leaving our claim is safer than erasing another's
        result = failed(fmt::format("{}: cannot read the claim on port {} before releasing it: {}", target,
                                    port.name(), discovery::describe_error(now.error, "Query Config")));
        continue;
      }
      current = now.value.config_string;
    }
    switch (decide_release(current, identity)) {
      case ReleaseAction::already_clear:
        continue;
      case ReleaseAction::not_ours:
        if (result.ok()) {
          result.status = ClaimResult::Status::held;
          result.holder = current;
          result.message =
              fmt::format("{}: port {} is now claimed by \"{}\"; left as it is", target, port.name(), current);
        }
        continue;
      case ReleaseAction::clear:
        break;
    }
    // A force set of the empty string (docs/aoe-protocol.md §4.2); a plain set would be refused.
    auto r = co_await control.query_config(*port.link, port.mac, shelf, slot, wire::ConfigCommand::force_set, {});
    if (r.error) {
      result = failed(fmt::format("{}: cannot release the claim on port {}: {}", target, port.name(),
                                  discovery::describe_error(r.error, "Query Config")));
    }
  }
  if (result.ok()) log::info("{}: claim released", target);
  co_return result;
}

ClaimResult claim(boost::asio::io_context& io, const std::vector<Link*>& links, std::uint16_t shelf,
                  std::uint8_t slot, ClaimMode mode, std::chrono::milliseconds window, std::string identity) {
  return discovery::run_control<ClaimResult>(io, links, [&](Control& control) {
    return find_and_claim(control, links, shelf, slot, window, identity, mode);
  });
}

ClaimResult release(boost::asio::io_context& io, const std::vector<Link*>& links, std::uint16_t shelf,
                    std::uint8_t slot, std::chrono::milliseconds window, std::string identity) {
  return discovery::run_control<ClaimResult>(io, links, [&](Control& control) {
    return find_and_release(control, links, shelf, slot, window, identity);
  });
}

}  // namespace aoe::daemon
