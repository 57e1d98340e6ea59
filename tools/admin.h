// admin.h: what the admin tools (aoe-cfg, aoe-mask, aoe-reserve) and the
// claim module share: finding one target's ports, running Control exchanges
// from a blocking main, and sentences for the errors a target can answer.
//
// Config string, MAC mask and reserve list are per target port: vblade runs
// one process per port, each with its own copy (doc §4-§6), so every edit
// goes to every port that answered, and each port's outcome is reported.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>  // before Asio 1.74's awaitable.hpp, which uses std::exchange unincluded
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "discovery/control.h"
#include "initiator/target.h"

namespace aoe::tools {

using discovery::Control;
using discovery::Task;

// One target port, reached through one local link.
struct Port {
  Link* link = nullptr;
  wire::Mac mac{};
  std::string config_string;  // as its Query Config answer carried it

  // "02:00:00:00:00:01 via eth0"
  std::string name() const;
};

// The ports of shelf.slot among Query Config answers: one per target MAC
// (a port heard on two links is used through the first by interface index),
// ordered by interface index, then MAC.
std::vector<Port> ports_from_answers(const std::vector<discovery::ConfigInfo>& answers, std::uint16_t shelf,
                                     std::uint8_t slot);

// The ports of a discovered target (aoe-attach has one already).
std::vector<Port> ports_of(const TargetInfo& target);

// A broadcast Query Config to shelf.slot on every link (doc §4.3), collected
// for `window`.
Task<std::vector<Port>> find_ports(Control& control, std::vector<Link*> links, std::uint16_t shelf,
                                   std::uint8_t slot, std::chrono::milliseconds window);

// Runs `body` on `io` with a private Control receiving every link's frames,
// until it returns; the links' receivers are cleared afterwards.  For mains,
// and for aoe-attach before or after its AttachedTarget routes the links.
template <typename T>
T run_control(boost::asio::io_context& io, const std::vector<Link*>& links,
              std::function<Task<T>(Control&)> body, Control::Timing timing = {}) {
  Control control(timing);
  for (Link* link : links) control.attach(*link);
  std::optional<T> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, body(control), [&](std::exception_ptr e, T value) {
    failure = e;
    if (!e) result = std::move(value);
  });
  io.restart();
  // The links keep waiting for frames, so run() would never return.
  while (!result && !failure && io.run_one() > 0) {
  }
  for (Link* link : links) link->set_receiver([](std::span<const std::byte>) {});
  if (failure) std::rethrow_exception(failure);
  return result ? std::move(*result) : T{};
}

// "target does not implement MAC Mask List (AoE error 1)", or ec's message
// with a hint; `command` names the AoE command ("MAC Mask List", ...).
std::string describe_error(std::error_code ec, std::string_view command);

// A failed MAC Mask edit (doc §5: MError 2 or 3; Dir Count names the failing
// directive), given the directives that were sent.
std::string describe_mask_error(const discovery::MaskList& answer,
                                const std::vector<wire::MaskEntry>& directives);

// Parses MACs given as words, each one MAC or a comma-separated list.
// Returns the first word that is not a MAC, or nullopt if all parsed.
std::optional<std::string> parse_macs(const std::vector<std::string>& words, std::vector<wire::Mac>& out);

// "a, b, c" (or "(empty)")
std::string format_macs(const std::vector<wire::Mac>& macs);

}  // namespace aoe::tools
