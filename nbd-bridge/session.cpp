#include "nbd-bridge/session.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "initiator/errors.h"
#include "base/log.h"

namespace aoe::nbd {

namespace asio = boost::asio;
using asio::use_awaitable;

namespace {

// Coroutines must not fail silently: an exception stops io_context::run.
void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

static_assert(BufferPool::max_class_bytes >= max_payload, "the pool's classes must hold the advertised payload");
static_assert(BufferPool::max_buffer_bytes >= max_accepted_payload, "the pool must hold the largest payload");

// READ and WRITE move data through a pool buffer (zero length: nothing to move).
bool needs_buffer(const TransmissionRequest& r) { return (r.type == cmd_read || r.type == cmd_write) && r.length > 0; }

// The rejected payloads every connection skips land here: nothing ever
// reads it, so one per io thread is enough and skipping allocates nothing.
thread_local std::array<std::byte, 64 * 1024> discarded;

}  // namespace

Session::Session(Socket socket, std::shared_ptr<BlockAdapter> adapter, std::shared_ptr<BufferPool> pool,
                 std::shared_ptr<const ExportConfig> config, bool handshake)
    : socket_(std::move(socket)),
      adapter_(std::move(adapter)),
      pool_(std::move(pool)),
      config_(std::move(config)),
      handshake_(handshake),
      in_handshake_(handshake),
      received_(receive_buffer_bytes),
      wake_(socket_.get_executor()),
      deadline_(socket_.get_executor()) {
  for (FastRequest& f : fast_) {
    f.session = this;
    fast_free_[fast_free_count_++] = &f;
  }
}

Session::~Session() {
  // Only if the io_context was torn down with our reader suspended.
  pool_->forget(&wake_);
  pool_->withdraw(this);
}

void Session::start(std::function<void()> closed) {
  closed_ = std::move(closed);
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);  // transmission() reads what is there, or waits
  asio::co_spawn(socket_.get_executor(), run(shared_from_this()), rethrow);
}

bool Session::quiet() {
  if (in_handshake_ || in_flight_ > 0 || received_.buffered() > 0) return false;
  int waiting = 0;  // FIONREAD: bytes in the socket not read yet
  if (::ioctl(socket_.native_handle(), FIONREAD, &waiting) != 0) return false;
  return waiting == 0;
}

void Session::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  if (in_handshake_) {
    // The client's next option is answered ERR_SHUTDOWN (handshake()), if it
    // comes soon enough.
    if (deadline_.expiry() > std::chrono::steady_clock::now() + config_->drain_timeout)
      arm_deadline(config_->drain_timeout);
    return;
  }
  // Ends a pending read with EOF while replies still go out.
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_receive, ignored);
  // What is left to read may be more than a full queue, from a client that
  // reads no reply: the drain watchdog bounds that wait too.
  watch_drain();
  notify();
}

asio::awaitable<void> Session::run(std::shared_ptr<Session> /*keep_alive*/) {
  bool transmit = !handshake_;
  if (handshake_) {
    arm_deadline(config_->handshake_timeout);
    try {
      transmit = co_await handshake();
    } catch (const std::bad_alloc&) {  // option data or replies: this client only
      log::warning("nbd: out of memory in the handshake, closing the connection");
    }
    in_handshake_ = false;
    disarm_deadline();
  }
  if (transmit && !stopping_) co_await transmission();
  if (in_flight_ > 0) watch_drain();
  while (in_flight_ > 0) co_await wait();
  disarm_deadline();
  if (undelivered_ > 0) {
    // For the kernel: those requests wait for their timeout before it
    // resends them (docs/nbd-protocol.md §5.5).
    const auto level = stopping_ ? log::Level::warning : log::Level::info;
    log::at(level, "nbd: {} replies undelivered: the client closed the connection first", undelivered_);
  }
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (auto closed = std::move(closed_)) closed();
}

asio::awaitable<bool> Session::handshake() {
  boost::system::error_code ec;
  const auto greeting = encode_greeting();
  co_await asio::async_write(socket_, asio::buffer(greeting), asio::redirect_error(use_awaitable, ec));
  std::array<std::byte, 4> flags_bytes;
  if (!ec) co_await asio::async_read(socket_, asio::buffer(flags_bytes), asio::redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  std::uint32_t client_flags = 0;
  for (std::byte b : flags_bytes) client_flags = (client_flags << 8) | std::to_integer<std::uint32_t>(b);
  if (!client_flags_ok(client_flags)) {
    log::info("nbd: client flags {:#x} not offered, closing", client_flags);
    co_return false;
  }

  HandshakeState state{client_flags};
  const ExportInfo info{config_->name, config_->description, config_->size,
                        config_->transmission_flags};
  for (;;) {
    std::array<std::byte, option_header_size> header_bytes;
    co_await asio::async_read(socket_, asio::buffer(header_bytes), asio::redirect_error(use_awaitable, ec));
    OptionHeader header;
    if (ec || parse_option_header(header_bytes, header) != Parse::ok) co_return false;
    std::vector<std::byte> data;
    if (option_wants_data(header)) {
      data.resize(header.length);
      co_await asio::async_read(socket_, asio::buffer(data), asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
    } else if (!co_await discard(header.length)) {
      co_return false;
    }
    const auto outcome = stopping_ ? answer_option_shutting_down(header) : answer_option(header, data, info, state);
    if (!outcome.reply.empty())
      co_await asio::async_write(socket_, asio::buffer(outcome.reply), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    if (outcome.next == Next::transmission) {
      structured_ = state.structured_replies;
      co_return true;
    }
    if (outcome.next == Next::close) co_return false;
  }
}

asio::awaitable<void> Session::transmission() {
  // Until EOF, even after shutdown(): what the client sent before it is
  // answered, not dropped with the connection.
  for (;;) {
    if (in_flight_ >= max_in_flight) {
      co_await wait();
      continue;
    }
    boost::system::error_code ec;
    TransmissionRequest request;
    const Parse parsed = received_.next_request(request);
    if (parsed == Parse::need_more) {
      // Every request the socket holds, in one call.  Waiting for the socket
      // and then reading, not async_read_some: asio's reactor would take the
      // bytes out of the socket before this coroutine sees them, and quiet()
      // would see neither.
      const auto space = received_.space();
      std::size_t n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::would_block) {
        co_await socket_.async_wait(Socket::wait_read, asio::redirect_error(use_awaitable, ec));
        if (ec) break;
        continue;
      }
      if (ec) break;  // EOF, hard disconnect or shutdown()
      received_.filled(n);
      continue;
    }
    if (parsed != Parse::ok) {
      log::info("nbd: bad request magic, closing the connection");
      broken_ = true;  // cannot resync: drop every pending reply
      socket_.close(ec);
      co_return;
    }
    if (request.type == cmd_disc) break;  // run() finishes what is in flight

    // Per request: the export may have been resized (Server::set_size).
    std::uint32_t error = validate_request(request, ExportLimits{config_->size, config_->transmission_flags, config_->writes_refused});
    Buffer buffer;
    if (!error && needs_buffer(request)) {
      // Most get their buffer at once: no coroutine frame for them.
      auto taken = try_take_buffer(request.length, buffer);
      if (!taken) taken = co_await take_buffer(request.length, buffer);
      error = *taken;
    }
    const std::size_t charge = buffer.capacity();
    ++in_flight_;
    buffered_ += charge;

    if (has_payload(request)) {
      bool read = true;
      if (error) {
        read = co_await discard(request.length);
      } else {
        // What the receive buffer holds of the payload (all of it, for the
        // usual small WRITE), then the rest, here rather than in a
        // coroutine of its own: no frame per payload.
        const auto out = buffer.span();
        std::size_t have = received_.take(out);
        while (read && have < out.size()) {
          if (out.size() - have >= received_.capacity() / 2) {
            // A large rest goes straight into place rather than through the buffer.
            const std::size_t n = socket_.read_some(asio::buffer(out.data() + have, out.size() - have), ec);
            if (!ec) have += n;
          } else {
            // A small one comes with the requests behind it, in one call.
            const auto space = received_.space();
            const std::size_t n = socket_.read_some(asio::buffer(space.data(), space.size()), ec);
            if (!ec) {
              received_.filled(n);
              have += received_.take(out.subspan(have));
            }
          }
          // Waiting, then reading, as for the headers: an Asio receive
          // operation would cost an allocation whenever a payload comes late.
          if (ec == asio::error::would_block)
            co_await socket_.async_wait(Socket::wait_read, asio::redirect_error(use_awaitable, ec));
          read = !ec;
        }
      }
      if (!read) {
        release(QueuedReply{{}, {}, charge});
        break;
      }
    }
    if (error) {
      reply_error(request, error);
      continue;
    }
    if (start_fast(request, buffer)) continue;
    try {
      ++spawned_;
      asio::co_spawn(socket_.get_executor(), execute(shared_from_this(), request, std::move(buffer)), rethrow);
    } catch (const std::bad_alloc&) {  // the coroutine's frame
      --spawned_;
      reply_error(request, err_nomem, charge);
    }
  }
}

bool Session::start_fast(const TransmissionRequest& r, Buffer& buffer) {
  // A coroutine spawned but not started has not taken its place in the
  // range lock yet: a later request must not overtake it there.
  if (spawned_ > 0 || fast_free_count_ == 0) return false;
  if ((r.type != cmd_read && r.type != cmd_write) || (r.flags & cmd_flag_fua)) return false;
  // Taken before the device is called: other requests' completions may run
  // inside that call (and give their slots back).
  FastRequest& f = *fast_free_[--fast_free_count_];
  f.request = r;
  f.charge = buffer.capacity();
  f.buffer = std::move(buffer);
  // One pointer: std::function holds it without allocating.
  auto done = [fast = &f](std::error_code ec) { fast->finish(ec); };
  if (!adapter_->start_aligned(r.type == cmd_write, r.offset, f.buffer.span(), f.guard, done)) {
    buffer = std::move(f.buffer);
    fast_free_[fast_free_count_++] = &f;
    return false;
  }
  return true;
}

void Session::FastRequest::finish(std::error_code ec) {
  guard.reset();
  session->answer(request, ec, std::move(buffer), charge);
  session->fast_free_[session->fast_free_count_++] = this;
}

std::optional<std::uint32_t> Session::try_take_buffer(std::size_t size, Buffer& out) {
  if (broken_) {
    pool_->withdraw(this);
    return err_shutdown;
  }
  // Alone, a request may always have its buffer (if the pool has room).
  if (in_flight_ == 0 || buffered_ + BufferPool::cost_of(size) <= max_buffered_bytes()) {
    switch (pool_->take(size, out, this)) {
      case BufferPool::Take::ok: return 0;
      case BufferPool::Take::no_memory:
        if (unsigned long suppressed = 0; no_memory_log_.allow(suppressed)) {
          if (suppressed) log::warning("nbd: {} more requests were answered ENOMEM", suppressed);
          log::warning("nbd: no memory for a {}-byte request, answering ENOMEM", size);
        }
        return err_nomem;
      case BufferPool::Take::over_budget: pool_->notify_on_release(&wake_); break;
    }
  }
  return std::nullopt;
}

asio::awaitable<std::uint32_t> Session::take_buffer(std::size_t size, Buffer& out) {
  for (;;) {
    co_await wait();  // a reply of ours went out, the pool released, or shutdown()
    pool_->forget(&wake_);
    if (const auto taken = try_take_buffer(size, out)) co_return *taken;
  }
}

asio::awaitable<void> Session::execute(std::shared_ptr<Session> /*keep_alive*/, TransmissionRequest r, Buffer buffer) {
  --spawned_;  // takes its place in the range lock before it first suspends
  const std::size_t charge = buffer.capacity();  // what the reader counted in buffered_
  const bool fua = r.flags & cmd_flag_fua;
  std::error_code ec;
  try {
    switch (r.type) {
      case cmd_read: ec = co_await adapter_->read(r.offset, buffer.span()); break;
      case cmd_write: ec = co_await adapter_->write(r.offset, buffer.span(), fua); break;
      case cmd_write_zeroes: ec = co_await adapter_->write_zeroes(r.offset, r.length, fua); break;
      case cmd_flush: ec = co_await adapter_->flush(); break;
      default: ec = std::make_error_code(std::errc::invalid_argument); break;  // validated away
    }
  } catch (const std::bad_alloc&) {  // coroutine frames, the zero buffer: this request only
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  answer(r, ec, std::move(buffer), charge);
}

void Session::answer(const TransmissionRequest& r, std::error_code ec, Buffer buffer, std::size_t charge) {
  if (!ec && r.type == cmd_read) {
    QueuedReply reply{{}, std::move(buffer), charge};
    if (!structured_)
      reply.head = ReplyHead::of(encode_simple_reply(r.cookie, 0));
    else if (r.length == 0)
      reply.head = ReplyHead::of(encode_none_chunk(r.cookie));
    else
      reply.head = ReplyHead::of(encode_offset_data_header(r.cookie, r.offset, r.length));
    send(std::move(reply));
    return;
  }
  const std::uint32_t error = errno_to_nbd(to_errno(ec));
  if (error) {
    log::debug("nbd: request type {} offset {} length {} failed: {}", r.type, r.offset, r.length, ec.message());
    reply_error(r, error, charge);  // a failed READ's data is never sent
  } else {
    send(QueuedReply{ReplyHead::of(encode_simple_reply(r.cookie, 0)), {}, charge});
  }
}

void Session::reply_error(const TransmissionRequest& r, std::uint32_t error, std::size_t charge) {
  if (structured_ && r.type == cmd_read)
    send(QueuedReply{ReplyHead::of(encode_error_chunk(r.cookie, error)), {}, charge});
  else
    send(QueuedReply{ReplyHead::of(encode_simple_reply(r.cookie, error)), {}, charge});
}

void Session::send(QueuedReply reply) {
  if (broken_) {
    ++undelivered_;
    release(reply);
    return;
  }
  replies_.push(std::move(reply));
  if (writing_) return;
  writing_ = true;
  // After the running handler, so that the replies it completes besides
  // this one leave in the same write.
  auto start = with_memory(post_memory_, [self = shared_from_this()] { self->write_replies(); });
  // The io_context's own executor uses the handler's memory; the socket's
  // polymorphic one would allocate.
  const auto executor = socket_.get_executor();
  if (const auto* io = executor.target<asio::io_context::executor_type>())
    asio::post(*io, std::move(start));
  else
    asio::post(executor, std::move(start));
}

void Session::release(const QueuedReply& reply) {
  --in_flight_;
  buffered_ -= reply.charged;
  notify();
}

void Session::write_replies() {
  if (replies_.empty()) {
    writing_ = false;
    return;
  }
  // Every reply ready, in one call; a short write resumes where it stopped.
  const std::size_t used = replies_.gather(pieces_);
  socket_.async_write_some(std::span(pieces_.data(), used),
                           with_memory(write_memory_, [self = shared_from_this()](const boost::system::error_code& ec,
                                                                                   std::size_t n) {
                             self->written(ec, n);
                           }));
}

void Session::written(const boost::system::error_code& ec, std::size_t n) {
  replies_.sent(n);
  for (; replies_.front_sent(); ++replies_written_) release(replies_.pop());
  if (ec) {
    broken_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);  // the reader sees it too
    for (; !replies_.empty(); ++undelivered_) release(replies_.pop());
  }
  write_replies();
}

void Session::arm_deadline(std::chrono::milliseconds after) {
  deadline_.expires_after(after);  // a previous wait ends with operation_aborted
  deadline_.async_wait([self = shared_from_this(), armed = ++deadline_armed_](const boost::system::error_code& ec) {
    if (!ec && armed == self->deadline_armed_) self->deadline_passed();
  });
}

void Session::watch_drain() {
  replies_written_seen_ = replies_written_;
  arm_deadline(config_->drain_timeout);
}

void Session::disarm_deadline() {
  ++deadline_armed_;
  deadline_.cancel();
}

void Session::deadline_passed() {
  if (in_handshake_) {
    log::info("nbd: handshake unfinished after {} ms, closing the connection",
              (stopping_ ? config_->drain_timeout : config_->handshake_timeout).count());
    close_hard();
    return;
  }
  if (in_flight_ == 0) {
    if (stopping_) arm_deadline(config_->drain_timeout);  // still reading what came before
    return;
  }
  if (writing_ && replies_written_ == replies_written_seen_) {
    log::info("nbd: client not reading its replies for {} ms while draining, dropping them",
              config_->drain_timeout.count());
    close_hard();
    return;
  }
  // Still moving, or waiting for the target (which has its own deadline).
  watch_drain();
}

void Session::close_hard() {
  broken_ = true;  // replies still to come are dropped (send)
  boost::system::error_code ignored;
  socket_.close(ignored);  // a blocked write or read ends with operation_aborted
}

asio::awaitable<bool> Session::discard(std::uint64_t length) {
  length -= received_.skip(length);
  while (length > 0) {
    boost::system::error_code ec;
    const auto n = std::min<std::uint64_t>(length, discarded.size());
    co_await asio::async_read(socket_, asio::buffer(discarded.data(), n), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    length -= n;
  }
  co_return true;
}

asio::awaitable<void> Session::wait() {
  boost::system::error_code ec;  // notify() cancels: that is the wake-up
  wake_.expires_at(asio::steady_timer::time_point::max());
  co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
}

}  // namespace aoe::nbd
