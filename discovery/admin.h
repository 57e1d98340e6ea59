// admin.h: what the admin tools (aoe-cfg, aoe-mask, aoe-reserve) and the
// claim (daemon/claim.h) share: finding one target's ports, and sentences
// for the errors a target can answer.  Blocking mains run these exchanges
// with run_control (control.h).
//
// Config string, MAC mask and reserve list are per target port: vblade runs
// one process per port, each with its own copy (docs/aoe-protocol.md §4-§6), so every edit
// goes to every port that answered, and each port's outcome is reported.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>


#include "discovery/control.h"
#include "initiator/target.h"

namespace aoe::discovery {


// One target port, reached through one local link.
struct TargetPort {
  Link* link = nullptr;
  wire::Mac mac{};
  std::string config_string;  // as its Query Config answer carried it

  // "02:00:00:00:00:01 via eth0"
  std::string name() const;
};

// The ports of shelf.slot among Query Config answers: one per target MAC
// (a port heard on two links is used through the first by interface index),
// ordered by interface index, then MAC.
std::vector<TargetPort> ports_from_answers(const std::vector<discovery::ConfigInfo>& answers, std::uint16_t shelf,
                                     std::uint8_t slot);

// The ports of a discovered target (aoe-attach has one already).
std::vector<TargetPort> ports_of(const TargetInfo& target);

// A broadcast Query Config to shelf.slot on every link (docs/aoe-protocol.md §4.3), collected
// for `window`.
Task<std::vector<TargetPort>> find_ports(Control& control, std::vector<Link*> links, std::uint16_t shelf,
                                   std::uint8_t slot, std::chrono::milliseconds window);

// "target does not implement MAC Mask List (AoE error 1)", or ec's message
// with a hint; `command` names the AoE command ("MAC Mask List", ...).
std::string describe_error(std::error_code ec, std::string_view command);

// A failed MAC Mask edit (docs/aoe-protocol.md §5: MError 2 or 3; Dir Count names the failing
// directive), given the directives that were sent.
std::string describe_mask_error(const discovery::MaskList& answer,
                                const std::vector<wire::MaskEntry>& directives);

// Parses MACs given as words, each one MAC or a comma-separated list.
// Returns the first word that is not a MAC, or nullopt if all parsed.
std::optional<std::string> parse_macs(const std::vector<std::string>& words, std::vector<wire::Mac>& out);

// "a, b, c" (or "(empty)")
std::string format_macs(const std::vector<wire::Mac>& macs);

}  // namespace aoe::discovery
