// claim.h: aoe-attach --claim, shared-access safety through the target's
// config string (docs/aoe-protocol.md §4.2).  Before serving, this host writes its identity
// ("aoe-nbd:<hostname>:<machine-id>:<mac>") with "set if empty"; a string another
// host wrote means the target is in use and attaching is refused.  Our own
// identity is accepted (re-attach after a crash); force overwrites; release
// clears the string with a force set of "" if it is still ours.
//
// vblade keeps one config string per port (one process per port), so the
// claim is written to every port that answers; a refusal or failure on one
// port undoes what this call wrote on the others.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "discovery/admin.h"

namespace aoe::daemon {

enum class ClaimMode { normal, force };

// --- the pure decisions (unit tested)

// Whether two config strings are one host's claim: equal, or identities
// make_identity() made with the same MAC.  The host name and machine-id
// are labels for the reader: the switch from the initramfs to the root
// names the host and may bring the machine-id, and the host stays the same.
bool same_claimant(std::string_view a, std::string_view b);

enum class ClaimAction {
  set_if_empty,  // the string is empty: CCmd 3 with our identity
  already_ours,  // nothing to write
  refuse,        // another identity holds it
  overwrite,     // force: CCmd 4 with our identity
};
ClaimAction decide_claim(std::string_view current, std::string_view ours, ClaimMode mode);

enum class ReleaseAction {
  clear,          // ours: force-set ""
  already_clear,  // empty: nothing to do
  not_ours,       // someone took it over (--force-claim elsewhere): leave it
};
ReleaseAction decide_release(std::string_view current, std::string_view ours);

// The first of `ports` (as a rediscovery heard them) whose config string is
// not `ours`, or null when every one still carries our claim.
const discovery::TargetPort* first_not_ours(const std::vector<discovery::TargetPort>& ports, std::string_view ours);

// "aoe-nbd:<hostname>:<machine-id>:<mac as 12 hex digits>".  The host
// name and machine-id say who it is to a reader; the MAC is what tells
// apart hosts that share both: an initramfs names every host "(none)",
// and hosts booted or cloned from one image share one machine-id.
std::string make_identity(std::string_view hostname, std::string_view machine_id, const wire::Mac& mac);

// The host name in an identity made by make_identity, if it is one.
std::optional<std::string> identity_host(std::string_view identity);

// This host's identity: $AOE_NBD_IDENTITY if set and non-empty (for tests
// that play two hosts on one machine), else from gethostname(),
// /etc/machine-id (a missing machine-id leaves that part empty) and the
// lowest MAC among `links`, the NICs that carry the claim: each one's
// permanent address (daemon/permanent_mac.h), else its current one.  Two
// machines never share a NIC, and the same NICs give the same identity
// again after a restart, before the root is mounted as after.
std::string host_identity(const std::vector<Link*>& links);

// --- claiming

struct ClaimResult {
  enum class Status {
    ok,     // claim: every port holds our identity; release: none does any more
    held,   // another identity holds the target (claim refused / release left it)
    not_found,  // no port of the target answered Query Config
    error,      // no answer to an edit, or the target refused the command
  };
  Status status = Status::error;
  std::string holder;   // held: the other identity
  std::string message;  // held/error: a sentence for the user (names the target)
  bool ok() const noexcept { return status == Status::ok; }
};

// The exit code for a result (daemon/exit_codes.h): 0, 7 held, 5 not found, 1.
int claim_exit_code(const ClaimResult& result);

// The refusal: "e1.2 is claimed by aoe-nbd:hostb:... (host hostb) on port
// ...; if that host no longer uses it, override with --force-claim".
std::string held_message(std::string_view target, std::string_view holder, const discovery::TargetPort& port);

// Coroutines over a Control that receives the ports' links.  `ports` come
// from find_ports() or ports_of(); their config_string is the current value
// (async_release reads each port again right before clearing it).
discovery::Task<ClaimResult> async_claim(discovery::Control& control, std::vector<discovery::TargetPort> ports, std::uint16_t shelf,
                              std::uint8_t slot, std::string identity, ClaimMode mode);
discovery::Task<ClaimResult> async_release(discovery::Control& control, std::vector<discovery::TargetPort> ports, std::uint16_t shelf,
                                std::uint8_t slot, std::string identity);

// Blocking, for aoe-attach: finds the target's ports with a broadcast Query
// Config lasting `window`, then claims or releases.  Runs `io` with a private
// Control on `links` (see run_control): call before an AttachedTarget routes
// the links, or after it has stopped.
ClaimResult claim(boost::asio::io_context& io, const std::vector<Link*>& links, std::uint16_t shelf,
                  std::uint8_t slot, ClaimMode mode, std::chrono::milliseconds window, std::string identity);
ClaimResult release(boost::asio::io_context& io, const std::vector<Link*>& links, std::uint16_t shelf,
                    std::uint8_t slot, std::chrono::milliseconds window, std::string identity);

}  // namespace aoe::daemon
