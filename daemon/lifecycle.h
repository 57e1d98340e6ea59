// lifecycle.h: one aoe-attach from open links to exit: claim the target if
// asked, find it, answer on its status socket, serve it (kernel or socket),
// and release the claim when that is safe.
#pragma once

#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/readiness.h"
#include "daemon/serving.h"
#include "initiator/link.h"

namespace aoe::daemon {

// Returns the exit code (daemon/exit_codes.h).  `signals` (SIGINT, SIGTERM
// on `io`) exists from before the links were opened, so a signal that
// comes early waits until serving begins and then stops it cleanly.
int run(boost::asio::io_context& io, boost::asio::signal_set& signals, const std::vector<Link*>& links,
        const Options& o, Readiness& readiness);

}  // namespace aoe::daemon
