#include "daemon/status_endpoint.h"

#include <sys/stat.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/core.h>

#include "daemon/status_client.h"
#include "daemon/status_schema.h"
#include "base/log.h"

namespace aoe::daemon {

namespace fs = std::filesystem;
using boost::asio::local::stream_protocol;

struct StatusEndpoint::State {
  explicit State(boost::asio::io_context& io) : acceptor(io), retry(io) {}
  stream_protocol::acceptor acceptor;
  boost::asio::steady_timer retry;
  Status status;
  fs::path path;
  bool closed = false;
};

namespace {

// One answer: the document, then close.  A reader that never reads is cut
// off after a while, so a stuck client cannot pin a descriptor forever.
struct Answer : std::enable_shared_from_this<Answer> {
  Answer(stream_protocol::socket s, std::string t) : socket(std::move(s)), text(std::move(t)), timer(socket.get_executor()) {}
  stream_protocol::socket socket;
  std::string text;
  boost::asio::steady_timer timer;

  void start() {
    auto self = shared_from_this();
    timer.expires_after(std::chrono::seconds(5));
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->socket.close();
    });
    boost::asio::async_write(socket, boost::asio::buffer(text), [self](const boost::system::error_code&, std::size_t) {
      self->timer.cancel();
      boost::system::error_code ignored;
      self->socket.shutdown(stream_protocol::socket::shutdown_both, ignored);
      self->socket.close(ignored);
    });
  }
};

void answer(const std::shared_ptr<StatusEndpoint::State>& state, stream_protocol::socket socket) {
  std::string text;
  try {
    // IDENTIFY strings are the target's bytes: never let bad UTF-8 throw here.
    text = state->status().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } catch (const std::exception& e) {  // a bug in the document must not stop the daemon
    log::error("status {}: {}", state->path.string(), e.what());
    return;
  }
  std::make_shared<Answer>(std::move(socket), std::move(text))->start();
}

void accept_next(const std::shared_ptr<StatusEndpoint::State>& state) {
  state->acceptor.async_accept([state](const boost::system::error_code& ec, stream_protocol::socket socket) {
    if (state->closed || ec == boost::asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE and friends: wait a little instead of spinning.
      log::warning("status {}: accept: {}", state->path.string(), ec.message());
      state->retry.expires_after(std::chrono::milliseconds(200));
      state->retry.async_wait([state](const boost::system::error_code& timer_ec) {
        if (!timer_ec && !state->closed) accept_next(state);
      });
      return;
    }
    answer(state, std::move(socket));
    accept_next(state);
  });
}

}  // namespace

std::unique_ptr<StatusEndpoint> StatusEndpoint::open(boost::asio::io_context& io, const std::string& target,
                                                     Status status, std::error_code& ec, std::string& error) {
  return open_at(io, status_socket_path(target), std::move(status), ec, error);
}

std::unique_ptr<StatusEndpoint> StatusEndpoint::open_at(boost::asio::io_context& io, const fs::path& path,
                                                        Status status, std::error_code& ec, std::string& error) {
  ec.clear();
  auto fail = [&](std::error_code code, std::string message) -> std::unique_ptr<StatusEndpoint> {
    ec = code;
    error = std::move(message);
    return nullptr;
  };

  // Only we (root) list and query daemons; the sockets are 0600 as well.
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code mk;
  if (!fs::exists(dir, mk)) {
    fs::create_directories(dir, mk);
    if (!mk) fs::permissions(dir, fs::perms::owner_all, mk);  // 0700
    if (mk) return fail(mk, fmt::format("cannot create {}: {}", dir.string(), mk.message()));
  }

  std::error_code st;
  auto kind = fs::symlink_status(path, st).type();
  if (kind != fs::file_type::not_found && kind != fs::file_type::none) {
    if (kind != fs::file_type::socket)
      return fail(std::make_error_code(std::errc::file_exists),
                  fmt::format("{} exists and is not a socket; not replacing it", path.string()));
    std::error_code qec;
    auto other = query_status(path, std::chrono::seconds(2), qec);
    if (other) {
      std::string who = fmt::format("pid {}", other->value("pid", 0L));
      std::string device = other->value("device", std::string());
      if (!device.empty()) who += ", " + device;
      return fail(std::make_error_code(std::errc::address_in_use),
                  fmt::format("{} is already served by another aoe-attach ({}): {} answers",
                              other->value("target", path.stem().string()), who, path.string()));
    }
    if (qec != std::errc::connection_refused && qec != std::errc::no_such_file_or_directory)
      return fail(std::make_error_code(std::errc::address_in_use),
                  fmt::format("something else is listening on {} ({}); is another aoe-attach running?",
                              path.string(), qec.message()));
    // Nobody listens: left by a daemon that died.  Ours now.
    fs::remove(path, st);
    log::info("status: replaced stale socket {}", path.string());
  }

  auto state = std::make_shared<State>(io);
  state->status = std::move(status);
  state->path = path;
  boost::system::error_code bec;
  state->acceptor.open(stream_protocol(), bec);
  if (!bec) {
    // bind() creates the file with the umask's mode: 0600 from the start,
    // never a moment open to others (chmod afterwards would leave one).
    // Called before any thread runs, so the process-wide umask is ours.
    const mode_t saved = ::umask(0177);
    state->acceptor.bind(stream_protocol::endpoint(path.native()), bec);
    ::umask(saved);
  }
  if (bec) return fail(bec, fmt::format("cannot listen on {}: {}", path.string(), bec.message()));
  state->acceptor.listen(16, bec);
  if (bec) {
    fs::remove(path, st);
    return fail(bec, fmt::format("cannot listen on {}: {}", path.string(), bec.message()));
  }
  accept_next(state);
  return std::unique_ptr<StatusEndpoint>(new StatusEndpoint(std::move(state), path));
}

StatusEndpoint::StatusEndpoint(std::shared_ptr<State> state, fs::path path)
    : state_(std::move(state)), path_(std::move(path)) {}

StatusEndpoint::~StatusEndpoint() {
  state_->closed = true;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  state_->retry.cancel();
  std::error_code ec;
  fs::remove(path_, ec);
}

}  // namespace aoe::daemon
