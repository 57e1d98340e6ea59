#include "tools/status_endpoint.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/core.h>

#include "initiator/engine.h"
#include "initiator/log.h"
#include "initiator/wire.h"

namespace aoe::tools {

namespace fs = std::filesystem;
using boost::asio::local::stream_protocol;

fs::path run_dir() {
  const char* env = std::getenv("AOE_RUN_DIR");
  return env && *env ? fs::path(env) : fs::path("/run/aoe");
}

fs::path status_socket_path(const std::string& target) { return run_dir() / (target + ".sock"); }

std::vector<fs::path> status_sockets(std::error_code& ec) {
  std::vector<fs::path> sockets;
  for (fs::directory_iterator it(run_dir(), ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".sock") sockets.push_back(it->path());
  if (ec == std::errc::no_such_file_or_directory) ec.clear();
  return sockets;
}

namespace {

long long micros(Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

const char* path_state(const PathStatus& p) {
  if (!p.link_up) return "link-down";
  return p.failed ? "failed" : "up";
}

}  // namespace

nlohmann::json status_json(const Engine& engine, const std::string& device, long pid) {
  nlohmann::json paths = nlohmann::json::array();
  std::size_t working = 0, total = 0;
  for (const PathStatus& p : engine.path_status()) {
    const char* state = path_state(p);
    ++total;
    if (std::strcmp(state, "up") == 0) ++working;
    paths.push_back({{"interface", p.interface},
                     {"mac", wire::format_mac(p.target_mac)},
                     {"state", state},
                     {"payload_bytes", p.payload_bytes},
                     {"window", p.window},
                     {"window_cap", p.window_cap},
                     {"outstanding", p.outstanding},
                     {"srtt_us", micros(p.srtt)},
                     {"rttvar_us", micros(p.rttvar)},
                     {"rto_us", micros(p.rto)},
                     {"frames_sent", p.frames_sent},
                     {"retransmits", p.retransmits},
                     {"timeouts", p.timeouts},
                     {"late_replies", p.late_replies},
                     {"duplicate_replies", p.duplicate_replies},
                     {"rejected_replies", p.rejected_replies},
                     {"send_drops", p.send_drops}});
  }
  const char* state = engine.is_down() || working == 0 ? "down" : working < total ? "degraded" : "up";
  const TargetInfo& t = engine.target();
  return {{"target", t.name()},
          {"device", device},
          {"pid", pid},
          {"state", state},
          {"size_bytes", engine.size_bytes()},
          {"payload_bytes", engine.payload_sectors() * 512u},
          {"model", t.identity.model},
          {"serial", t.identity.serial},
          {"in_flight", engine.in_flight_requests()},
          {"paths", std::move(paths)}};
}

nlohmann::json status_json(const Engine& engine, const std::string& device) {
  return status_json(engine, device, static_cast<long>(::getpid()));
}

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

bool fill_address(const fs::path& path, sockaddr_un& address, std::error_code& ec) {
  address = {};
  address.sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.size() >= sizeof address.sun_path) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return false;
  }
  std::memcpy(address.sun_path, s.c_str(), s.size() + 1);
  return true;
}

}  // namespace

std::optional<nlohmann::json> query_status(const fs::path& socket, std::chrono::milliseconds timeout,
                                           std::error_code& ec) {
  ec.clear();
  sockaddr_un address;
  if (!fill_address(socket, address, ec)) return std::nullopt;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ec = last_error();
    return std::nullopt;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // A unix connect never waits: it succeeds, is refused, or (backlog full) fails with EAGAIN.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ec = last_error();
    return std::nullopt;
  }
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ec = std::make_error_code(std::errc::timed_out);
      return std::nullopt;
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = last_error();
      return std::nullopt;
    }
    if (n == 0) continue;  // the deadline check above ends it
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) {
      ec = last_error();
      return std::nullopt;
    }
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
    if (text.size() > (1u << 20)) {  // a status document is a few KiB
      ec = std::make_error_code(std::errc::message_size);
      return std::nullopt;
    }
  }
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    ec = std::make_error_code(std::errc::bad_message);
    return std::nullopt;
  }
  return doc;
}

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

}  // namespace aoe::tools
