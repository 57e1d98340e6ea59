// discover.h: find the AoE targets reachable over a set of links (docs/aoe-protocol.md §4.3).
//
// A broadcast Query Config on every link; each (local link, target port)
// that answers for a shelf.slot is a path.  Then an IDENTIFY through every
// target port gives capacity, model and serial.  A port whose IDENTIFY
// disagrees with the target's first one claims a shelf.slot that belongs to
// another disk (docs/aoe-protocol.md §8.12): it is reported as a conflict, never used.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "discovery/control.h"
#include "initiator/identify.h"
#include "initiator/target.h"

namespace aoe::discovery {

using TargetId = wire::TargetId;

struct DiscoverOptions {
  std::chrono::milliseconds window{1000};  // how long answers are collected
  std::vector<TargetId> only;              // empty: every target
  // Rediscovery of an attached target: the disk it must be (serial and
  // model; its capacity may have changed).  Without it the first port that
  // answers IDENTIFY decides.
  std::optional<Identity> expected;
  // IDENTIFYs one discovery starts: per target (a real one has a few ports)
  // and in all.  Anyone can answer a broadcast; forged answers must not
  // start an exchange each.
  std::size_t max_ports_per_target = 64;
  std::size_t max_identifies = 1024;
};

struct Conflict {
  TargetId target;
  Link* link = nullptr;  // where the impostor answered
  wire::Mac mac{};
  Identity expected;     // the target's identity (its first port's)
  Identity found;        // what this port reported
};

struct DiscoverResult {
  std::vector<TargetInfo> targets;  // ordered by shelf.slot
  std::vector<Conflict> conflicts;
};

// Runs discovery through `control`, which must be receiving the links' frames.
Task<DiscoverResult> async_discover(Control& control, std::vector<Link*> links, DiscoverOptions options);

// For tools: points the links' receivers at a private Control (and at nothing
// afterwards) and runs `io` until discovery is done.
DiscoverResult discover(boost::asio::io_context& io, const std::vector<Link*>& links,
                        const DiscoverOptions& options);

// --- the pure steps, exposed for tests

// Groups Query Config answers into targets, one path per (link, port);
// answers with a broadcast shelf or slot and targets not in `only` are left
// out.  Paths are ordered by interface index, then MAC; identities are left
// empty.
std::vector<TargetInfo> merge_answers(const std::vector<ConfigInfo>& answers,
                                      const std::vector<TargetId>& only);

// One port's IDENTIFY outcome.
struct PortIdentity {
  wire::Mac mac{};
  Result<Identity> identity;
};

// Sets target.identity from the first port that answered and removes the
// paths through ports that did not answer or disagree (capacity, serial or
// model); each disagreeing port becomes a conflict.  With `expected`, every
// port must be that disk (same serial and model) instead, at its old
// capacity while any port still reports it: an impostor that answers first,
// or one of another size, cannot take over an attached target.
std::vector<Conflict> apply_identities(TargetInfo& target, const std::vector<PortIdentity>& ports,
                                       const std::optional<Identity>& expected = std::nullopt);

// "e1.2: port 02:00:00:00:00:01 on eth1 claims it but is another disk (...)"
std::string describe(const Conflict& conflict);

}  // namespace aoe::discovery
