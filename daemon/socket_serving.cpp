#include "daemon/socket_serving.h"

#include <signal.h>

#include <filesystem>
#include <functional>

#include <fmt/core.h>

#include "daemon/exit_codes.h"
#include "base/log.h"

namespace aoe::daemon {

int serve_socket(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                 const Options& o, Readiness& readiness, Served& served) {
  served.device = o.socket_path;
  if (auto ec = target.server().listen_unix(o.socket_path)) {
    readiness.failed(exit_failed, fmt::format("cannot listen on {}: {}", o.socket_path, ec.message()));
    return exit_failed;
  }
  target.set_resize_listener([&](std::uint64_t size) {
    log::notice("{}: new NBD connections see {} bytes; connected clients keep the size they negotiated",
                target.target().name(), size);
  });
  target.start();
  // SIGTERM drains: in-flight requests finish, or fail at the deadline.
  // SIGINT (aoe-detach, Ctrl-C) and a second signal stop within seconds
  // whatever the deadline: what the target has not answered by then fails
  // with EIO (AttachedTarget::hurry).
  int signals_seen = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (++signals_seen == 1) {
          log::notice("{}: signal {}: draining in-flight requests", target.target().name(), sig);
          readiness.stopping("draining " + o.socket_path);
          target.stop([&] {
            boost::system::error_code ignored;
            signals.cancel(ignored);  // a later signal must not reach this frame
            io.stop();
          });
        }
        if (sig == SIGINT || signals_seen > 1) target.hurry(false);
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  served.ready = true;
  readiness.ready(o.socket_path);
  io.run();
  std::error_code ignored;
  std::filesystem::remove(o.socket_path, ignored);
  return exit_ok;
}

}  // namespace aoe::daemon
