#include "nbd-bridge/server.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.h"
#include "initiator/socket_buffer.h"
#include "nbd-bridge/block_adapter.h"
#include "nbd-bridge/session.h"

namespace aoe::nbd {

namespace asio = boost::asio;
using Protocol = asio::local::stream_protocol;

namespace {

std::error_code to_std(const boost::system::error_code& ec) {
  return ec ? std::error_code(ec.value(), std::system_category()) : std::error_code{};
}

std::uint16_t flags_for(const BlockDevice& device, const ExportOptions& options) {
  // WRITE_ZEROES is emulated by writing zeroes, so FAST_ZERO is advertised only
  // to be refused quickly with ENOTSUP (what qemu-img and nbdcopy probe for).
  std::uint16_t flags = tflag_has_flags | tflag_send_write_zeroes | tflag_send_fast_zero |
                        tflag_can_multi_conn;  // one backend, no per-connection cache
  if (device.can_flush()) flags |= tflag_send_flush | tflag_send_fua;
  if (options.read_only) flags |= tflag_read_only;
  return flags;
}

// A unix stream socket queues what its sender wrote against the sender's
// send buffer: the default 208 KiB holds a fifth of a 1 MiB read reply, so
// every reply costs several wake-ups of both ends.
void widen_buffers(int fd) { set_socket_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20); }

}  // namespace

// Shared with the accept loop and the sessions' close callbacks, which may
// outlive the Server object by a few handlers.
struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(asio::io_context& context, BlockDevice& device, ExportOptions export_options)
      : io(context),
        adapter(std::make_shared<BlockAdapter>(device)),
        options(std::move(export_options)),
        pool(std::make_shared<BufferPool>(options.max_buffered_bytes)),
        config(std::make_shared<ExportConfig>(ExportConfig{options.name, options.description, device.size_bytes(),
                                                           flags_for(device, options), options.handshake_timeout,
                                                           options.drain_timeout})) {
    pool->reserve_waiters(options.max_connections);
    if (options.preallocate_up_to && !pool->preallocate(options.preallocate_up_to))
      log::warning("cannot preallocate the {} MiB of NBD buffers (continuing; they come as requests need them)",
                   options.max_buffered_bytes >> 20);
  }

  void add_session(Protocol::socket socket, bool handshake) {
    widen_buffers(socket.native_handle());
    schedule_shrink();
    auto session = std::make_shared<Session>(std::move(socket), adapter, pool, config, handshake);
    Session* key = session.get();
    sessions.emplace(key, session);
    std::weak_ptr<ServerState> weak = shared_from_this();
    session->start([weak, key] {
      if (auto self = weak.lock()) self->session_closed(key);
    });
  }

  void session_closed(Session* key) {
    sessions.erase(key);
    if (sessions.empty() && !keeps_its_buffers()) {  // nobody to use what the pool keeps
      pool->shrink_all();
      shrink_timer.cancel();
      shrinking = false;
    }
    if (sessions.empty() && idle_listener) asio::post(io, idle_listener);
    if (shutting_down && sessions.empty() && shutdown_done) asio::post(io, std::move(shutdown_done));
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<ServerState> /*keep_alive*/) {
    asio::steady_timer backoff(io);
    while (acceptor && acceptor->is_open()) {
      boost::system::error_code ec;
      auto socket = co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (!acceptor || !acceptor->is_open() || ec == asio::error::operation_aborted) break;
      if (ec) {  // e.g. out of file descriptors: retry later rather than spin
        log::warning("nbd: accept on {} failed: {}", path, ec.message());
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (sessions.size() >= options.max_connections) {
        log::notice("nbd: {} connections already, refusing another on {}", sessions.size(), path);
        socket.close(ec);
        continue;
      }
      add_session(std::move(socket), true);
    }
  }

  // A preallocated pool is memory obtained while it could be (a root file
  // system's daemon, aoe-attach(8) ROOT STORAGE): giving it back would mean
  // asking again under the memory pressure it was meant for.
  bool keeps_its_buffers() const { return options.preallocate_up_to != 0; }

  // A burst's buffers go back once it is over (BufferPool::shrink).
  void schedule_shrink() {
    if (shrinking || keeps_its_buffers()) return;
    shrinking = true;
    shrink_timer.expires_after(options.buffer_shrink_period);
    shrink_timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;  // cancelled: the last session closed
      self->shrinking = false;
      self->pool->shrink();
      if (!self->sessions.empty()) self->schedule_shrink();
    });
  }

  void stop_listening() {
    if (!acceptor) return;
    boost::system::error_code ignored;
    acceptor->close(ignored);
    acceptor.reset();
    ::unlink(path.c_str());
  }

  asio::io_context& io;
  std::shared_ptr<BlockAdapter> adapter;
  ExportOptions options;
  std::shared_ptr<BufferPool> pool;      // each session holds it: it outlives every buffer
  std::shared_ptr<ExportConfig> config;  // sessions see it const; set_size changes it
  std::optional<Protocol::acceptor> acceptor;
  std::string path;                                      // of the listening socket
  std::map<Session*, std::shared_ptr<Session>> sessions;  // open connections
  bool shutting_down = false;
  std::function<void()> shutdown_done;
  std::function<void()> idle_listener;  // Server::set_idle_listener
  asio::steady_timer shrink_timer{io};
  bool shrinking = false;  // shrink_timer is armed
};

struct Server::Impl {
  std::shared_ptr<ServerState> state;
};

Server::Server(asio::io_context& io, BlockDevice& device, ExportOptions options)
    : impl_(std::make_unique<Impl>(Impl{std::make_shared<ServerState>(io, device, std::move(options))})) {}

Server::~Server() {
  auto& s = *impl_->state;
  s.stop_listening();
  for (auto& [key, session] : s.sessions) session->shutdown();
}

std::error_code Server::listen_unix(const std::string& path) {
  auto& s = *impl_->state;
  if (s.acceptor || s.shutting_down) return std::make_error_code(std::errc::operation_not_permitted);
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
    return std::make_error_code(std::errc::filename_too_long);
  const Protocol::endpoint endpoint(path);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return std::make_error_code(std::errc::file_exists);
    // A socket file nobody answers on is left over from a dead server.
    Protocol::socket probe(s.io);
    boost::system::error_code ec;
    probe.connect(endpoint, ec);
    if (!ec) return std::make_error_code(std::errc::address_in_use);
    ::unlink(path.c_str());
  }
  Protocol::acceptor acceptor(s.io);
  boost::system::error_code ec;
  acceptor.open(Protocol(), ec);
  if (!ec) {
    // Whoever can connect reads and writes the whole disk: the socket is
    // 0600 whatever the caller's umask, from the moment bind() creates it
    // (a chmod afterwards would leave a moment open to others).  The umask
    // is process-wide: this runs at start-up, before other threads.
    const mode_t saved = ::umask(0177);
    acceptor.bind(endpoint, ec);
    ::umask(saved);
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return to_std(ec);
  s.acceptor.emplace(std::move(acceptor));
  s.path = path;
  asio::co_spawn(s.io, s.accept_loop(impl_->state), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  return {};
}

void Server::serve_transmission(int fd) {
  auto& s = *impl_->state;
  Protocol::socket socket(s.io);
  boost::system::error_code ec;
  socket.assign(Protocol(), fd, ec);
  if (ec) {
    log::error("nbd: cannot serve fd {}: {}", fd, ec.message());
    ::close(fd);
    return;
  }
  if (s.shutting_down) return;  // the socket closes the fd
  s.add_session(std::move(socket), false);
}

std::uint16_t Server::transmission_flags() const noexcept {
  return impl_->state->config->transmission_flags;
}

void Server::shutdown(std::function<void()> done) {
  auto& s = *impl_->state;
  s.shutting_down = true;
  s.shutdown_done = std::move(done);
  s.stop_listening();
  if (s.sessions.empty()) {
    if (s.shutdown_done) asio::post(s.io, std::move(s.shutdown_done));
    return;
  }
  // Copy: a session may close (and leave the map) synchronously.
  std::vector<std::shared_ptr<Session>> sessions;
  for (auto& [key, session] : s.sessions) sessions.push_back(session);
  for (auto& session : sessions) session->shutdown();
}

void Server::abandon() {
  auto& s = *impl_->state;
  s.stop_listening();
  std::vector<std::shared_ptr<Session>> sessions;
  for (auto& [key, session] : s.sessions) sessions.push_back(session);
  for (auto& session : sessions) session->abandon();
}

void Server::set_size(std::uint64_t size_bytes) { impl_->state->config->size = size_bytes; }

void Server::set_writes_refused(bool refused) { impl_->state->config->writes_refused = refused; }

std::size_t Server::connection_count() const noexcept { return impl_->state->sessions.size(); }

bool Server::quiet() const {
  return std::all_of(impl_->state->sessions.begin(), impl_->state->sessions.end(),
                     [](const auto& entry) { return entry.second->quiet(); });
}

void Server::set_idle_listener(std::function<void()> listener) { impl_->state->idle_listener = std::move(listener); }

BufferPool& Server::buffer_pool() noexcept { return *impl_->state->pool; }

}  // namespace aoe::nbd
