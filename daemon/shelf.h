// shelf.h: aoe-attach --all, a supervisor over one aoe-attach per target
// (docs/shelf.md).  It finds the targets with a broadcast Query Config on
// its links (at start, then every rediscover interval) and hears the ones
// that announce themselves (vblade does when it starts); each target its
// selection matches gets a child aoe-attach of its own, started again
// when it fails, never when it was detached (it exits 0 then).
//
// Readiness (Readiness::ready, systemd's READY=1): once the first
// discovery is over and every child started so far has either reported
// its device or failed.  SIGTERM and SIGINT are passed on to every child,
// and we exit once they all have.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/readiness.h"
#include "discovery/target_pattern.h"
#include "initiator/link.h"

namespace aoe::daemon {

struct ShelfOptions {
  discovery::TargetSelection selection;
  std::string program;  // the aoe-attach to start per target
  // Its arguments for a target ("e1.2"), after the program name.
  std::function<std::vector<std::string>(const std::string& target)> child_args;
  std::chrono::milliseconds discovery_window{1000};
  std::chrono::seconds rediscover_interval{60};
  // A failed child is started again after this, doubled per failure in a
  // row up to the rediscover interval.
  std::chrono::milliseconds retry_delay{5000};
};

// Returns the exit code (daemon/exit_codes.h).  `signals` holds SIGINT and
// SIGTERM.  `links` should receive control frames only
// (PacketLink::accept_control_only).
int run_shelf(boost::asio::io_context& io, boost::asio::signal_set& signals, const std::vector<Link*>& links,
              const ShelfOptions& options, Readiness& readiness);

}  // namespace aoe::daemon
