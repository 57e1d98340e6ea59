// session.h: one NBD connection's life: the fixed-newstyle handshake (unless
// it starts in transmission, as for the kernel), then the request loop.
//
// Full duplex: the reader keeps accepting requests while earlier ones run in
// their own coroutines and answer in any order; one writer coroutine sends
// each reply's header and data as a unit.  A client stops being read when it
// has max_in_flight requests or max_buffered_bytes of payload outstanding.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // before asio/awaitable.hpp, which needs std::exchange
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "nbd-bridge/block_adapter.h"
#include "nbd-bridge/buffer.h"
#include "nbd-bridge/protocol.h"

namespace aoe::nbd {

// What every connection to one export sees.
struct ExportConfig {
  std::string name;
  std::string description;
  std::uint64_t size = 0;
  std::uint16_t transmission_flags = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::local::stream_protocol::socket;

  static constexpr unsigned max_in_flight = 128;               // the kernel's queue depth
  static constexpr std::size_t max_buffered_bytes = 64u << 20;  // READ/WRITE payloads held

  Session(Socket socket, std::shared_ptr<BlockAdapter> adapter,
          std::shared_ptr<const ExportConfig> config, bool handshake);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the connection; `closed` runs once, after the socket is closed and
  // every request it started has completed.
  void start(std::function<void()> closed);

  // Stops reading; requests already read complete and are answered, then
  // the connection closes.
  void shutdown();

 private:
  struct Reply {
    std::vector<std::byte> head;
    Buffer data;
    std::size_t charged = 0;  // bytes of max_buffered_bytes released once sent
  };

  boost::asio::awaitable<void> run(std::shared_ptr<Session> self);
  boost::asio::awaitable<bool> handshake();
  boost::asio::awaitable<void> transmission();
  boost::asio::awaitable<void> execute(std::shared_ptr<Session> self, Request request,
                                       Buffer payload);
  boost::asio::awaitable<void> write_replies(std::shared_ptr<Session> self);
  boost::asio::awaitable<bool> discard(std::uint64_t length);
  boost::asio::awaitable<void> wait();

  void reply_error(const Request& request, std::uint32_t error, std::size_t charge = 0);
  void send(Reply reply);
  void release(const Reply& reply);
  void notify() { wake_.cancel(); }

  Socket socket_;
  std::shared_ptr<BlockAdapter> adapter_;
  std::shared_ptr<const ExportConfig> config_;
  bool handshake_;                  // false: straight into transmission (kernel)
  bool structured_ = false;         // READs answered with structured chunks
  bool stopping_ = false;           // shutdown() was called
  bool writing_ = false;            // write_replies is running
  bool broken_ = false;             // the socket failed or was closed: drop replies
  unsigned in_flight_ = 0;          // requests read whose reply is not yet sent
  std::size_t buffered_ = 0;        // payload bytes those requests hold
  std::deque<Reply> replies_;       // waiting for the writer
  boost::asio::steady_timer wake_;  // the reader waits here for a change of the above
  std::function<void()> closed_;
};

}  // namespace aoe::nbd
