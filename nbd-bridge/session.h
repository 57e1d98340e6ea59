// session.h: one NBD connection's life: the fixed-newstyle handshake (unless
// it starts in transmission, as for the kernel), then the request loop.
//
// Full duplex: the reader keeps accepting requests while earlier ones run
// and answer in any order; the writer sends the replies.  Both batch: one
// read takes in every request the socket holds (receive_buffer.h), one
// write sends every reply ready (reply_queue.h).
//
// The common request, an aligned READ or WRITE whose range is free, takes
// the fast path: from its parsed header straight to the device
// (BlockAdapter::start_aligned) with a slot of this session as its state,
// and from the device's completion straight into the reply queue, with no
// coroutine frame and no allocation; the writer is a plain completion
// handler.  Everything else (unaligned, FUA, WRITE_ZEROES, FLUSH, a range
// another request holds) runs in a coroutine of its own (execute), as do
// the handshake, the reader and the drain.  A client stops being read when it has max_in_flight
// requests or max_buffered_bytes() of payload outstanding, or when the
// Server's BufferPool has no room for the next payload.
//
// Time limits, so that no client wedges the server: the handshake must end
// within handshake_timeout, and once the connection stops reading requests
// (DISC, EOF, shutdown) a writer that completes no reply for drain_timeout
// (the client stopped reading replies) has its socket closed and its
// pending replies dropped.  Requests already at the target still complete
// first: nothing is acknowledged early, and nothing is freed under the I/O.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>  // before asio/awaitable.hpp, which needs std::exchange
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "initiator/handler_memory.h"
#include "base/log.h"
#include "nbd-bridge/block_adapter.h"
#include "nbd-bridge/buffer.h"
#include "nbd-bridge/protocol.h"
#include "nbd-bridge/receive_buffer.h"
#include "nbd-bridge/reply_queue.h"

namespace aoe::nbd {

// What every connection to one export sees.
struct ExportConfig {
  std::string name;
  std::string description;
  std::uint64_t size = 0;
  std::uint16_t transmission_flags = 0;            // offered to every client; requests are checked against them
  std::chrono::milliseconds handshake_timeout{};  // from accept to transmission
  std::chrono::milliseconds drain_timeout{};      // a stuck reply writer, once draining
  bool writes_refused = false;                    // Server::set_writes_refused
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

  static constexpr unsigned max_in_flight = 128;  // the kernel's queue depth
  // Read ahead of the parser: every header of a full queue (128 x 28 bytes),
  // or 15 requests of 4 KiB with their payloads, in one call.
  static constexpr std::size_t receive_buffer_bytes = 64 * 1024;

  Session(Socket socket, std::shared_ptr<BlockAdapter> adapter, std::shared_ptr<BufferPool> pool,
          std::shared_ptr<const ExportConfig> config, bool handshake);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the connection; `closed` runs once, after the socket is closed and
  // every request it started has completed.
  void start(std::function<void()> closed);

  // In transmission with nothing read and unanswered, nothing partly read,
  // and no byte waiting in the socket (Server::quiet).
  bool quiet();

  // Shuts the socket for receiving: the client can send nothing more (a
  // unix peer's send fails at once, and the kernel requeues that request
  // for the next server).  What it sent before still comes out of the
  // socket and is executed and answered like the rest; then the connection
  // closes.  A client still haggling gets ERR_SHUTDOWN to its next option,
  // for at most drain_timeout.
  void shutdown();
  // Closes the connection at once: replies still to come are dropped.  For
  // the kernel, whose requests left unanswered on a dead connection wait
  // for the next server (docs/nbd-protocol.md §5.5).
  void abandon() { close_hard(); }

  // Pool bytes this connection may hold (BufferPool::connection_share).  A
  // request alone is admitted whatever its size (up to the pool's budget,
  // or max_accepted_payload from outside it: nbd-bridge/buffer.h), so a
  // 32 MiB one gets through once the pool has room for it.
  std::size_t max_buffered_bytes() const noexcept { return pool_->connection_share(); }

 private:
  boost::asio::awaitable<void> run(std::shared_ptr<Session> self);
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<void> transmission();
  // The request's payload (WRITE) or reply data (READ) buffer if this
  // connection and the pool have room now: 0, or the NBD error to answer
  // with; nothing yet if it must wait (take_buffer).
  std::optional<std::uint32_t> try_take_buffer(std::size_t size, Buffer& out);
  // The same once try_take_buffer said to wait: waits, then tries again.
  boost::asio::awaitable<std::uint32_t> take_buffer(std::size_t size, Buffer& out);
  boost::asio::awaitable<void> execute(std::shared_ptr<Session> self, TransmissionRequest request, Buffer buffer);
  // The fast path: true if the request was started there (it then answers
  // from finish_fast); false leaves `buffer` with the caller.
  bool start_fast(const TransmissionRequest& request, Buffer& buffer);
  // The reply to a request the device finished with `ec`.
  void answer(const TransmissionRequest& request, std::error_code ec, Buffer buffer, std::size_t charge);
  // The writer: sends what the queue holds, again as each write completes.
  void write_replies();
  void written(const boost::system::error_code& ec, std::size_t n);
  boost::asio::awaitable<bool> discard(std::uint64_t length);
  boost::asio::awaitable<void> wait();

  void reply_error(const TransmissionRequest& request, std::uint32_t error, std::size_t charge = 0);
  void send(QueuedReply reply);
  void release(const QueuedReply& reply);
  void notify() { wake_.cancel(); }

  // The deadline timer: the handshake's limit, then the drain's watchdog.
  void arm_deadline(std::chrono::milliseconds after);
  // The drain's watchdog: it fires when no reply went out for drain_timeout.
  void watch_drain();
  void disarm_deadline();
  void deadline_passed();
  void close_hard();  // pending replies are dropped, the reader and writer fail

  // A request on the fast path: what its completion needs, in a slot of the
  // session, so that the device's Completion holds one pointer (a
  // std::function keeps that inline: no allocation).  No slot outlives the
  // session: it waits for every request in flight before it closes.
  struct FastRequest {
    Session* session = nullptr;
    TransmissionRequest request;
    Buffer buffer;
    std::size_t charge = 0;
    std::optional<RangeLock::Guard> guard;  // released before the reply is queued
    void finish(std::error_code ec);
  };

  Socket socket_;
  std::shared_ptr<BlockAdapter> adapter_;
  std::shared_ptr<BufferPool> pool_;
  std::shared_ptr<const ExportConfig> config_;
  bool handshake_;                  // false: straight into transmission (kernel)
  bool in_handshake_;               // still haggling
  bool structured_ = false;         // READs answered with structured chunks
  bool stopping_ = false;           // shutdown() was called
  bool writing_ = false;            // write_replies is running
  bool broken_ = false;             // the socket failed or was closed: drop replies
  unsigned undelivered_ = 0;        // replies dropped so (logged at the close)
  log::RateLimit no_memory_log_;    // one line per request would flood the log when memory is short
  unsigned in_flight_ = 0;          // requests read whose reply is not yet sent
  std::size_t buffered_ = 0;        // payload bytes those requests hold
  std::uint64_t replies_written_ = 0;        // progress of the writer...
  std::uint64_t replies_written_seen_ = 0;   // ...at the drain watchdog's last look
  ReceiveBuffer received_;          // requests read ahead of the one being parsed
  ReplyQueue<max_in_flight> replies_;  // waiting for the writer
  ReplyQueue<max_in_flight>::Pieces pieces_;  // the writer's current write
  HandlerMemory post_memory_, write_memory_;  // the writer's handlers: no allocation per write
  unsigned spawned_ = 0;            // execute coroutines not started yet: the fast path waits for them
  // After adapter_ and pool_: a slot's guard and buffer go back to them.
  std::array<FastRequest, max_in_flight> fast_;
  std::array<FastRequest*, max_in_flight> fast_free_;  // a stack of unused slots
  std::size_t fast_free_count_ = 0;
  boost::asio::steady_timer wake_;  // the reader waits here for a change of the above
  boost::asio::steady_timer deadline_;
  std::uint64_t deadline_armed_ = 0;  // an expiry already queued when re-armed is stale
  std::function<void()> closed_;
};

}  // namespace aoe::nbd
