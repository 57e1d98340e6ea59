#include "daemon/socket_serving.h"

#include <filesystem>

#include <fmt/core.h>

#include "daemon/exit_codes.h"
#include "initiator/log.h"

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
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::notice("{}: signal {}: draining in-flight requests", target.target().name(), sig);
    readiness.stopping("draining " + o.socket_path);
    target.stop([&] { io.stop(); });
  });
  served.ready = true;
  readiness.ready(o.socket_path);
  io.run();
  std::error_code ignored;
  std::filesystem::remove(o.socket_path, ignored);
  return exit_ok;
}

}  // namespace aoe::daemon
