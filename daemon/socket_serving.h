// socket_serving.h: serving the target as an NBD unix socket (qemu, libnbd
// tools, fio), until SIGINT or SIGTERM.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/attached_target.h"
#include "daemon/readiness.h"
#include "daemon/serving.h"

namespace aoe::daemon {

// Listens on o.socket_path, reports readiness, runs `io` until a signal in
// `signals` has drained the target, and returns the exit code.
int serve_socket(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                 const Options& o, Readiness& readiness, Served& served);

}  // namespace aoe::daemon
