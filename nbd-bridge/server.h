// server.h: serves one BlockDevice over NBD to any number of connections.
//
// Unix-socket clients (qemu, libnbd, fio) get the fixed-newstyle handshake;
// the kernel's end of a socketpair starts directly in transmission (the
// kernel never sees a handshake, docs/nbd-protocol.md §5.1).  Everything runs on
// the io_context thread that owns the BlockDevice.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>

#include "initiator/block_device.h"
#include "nbd-bridge/buffer.h"

namespace aoe::nbd {

struct ExportOptions {
  std::string name = "";          // export name; "" is also accepted as the default
  std::string description;        // NBD_INFO_DESCRIPTION
  bool read_only = false;
  unsigned max_connections = 16;  // further connections are refused; unfinished handshakes count
  // READ and WRITE payloads held at once, over every connection (one holds
  // at most half, or a single request of any size): memory the pool keeps
  // once obtained, locked under mlockall.  48 MiB keeps aoe-attach under the
  // 64 MiB peak RSS goal per target (README, Performance) and is still hundreds of
  // times the target's window (Buffer Count x payload, ~140 KiB for vblade).
  std::size_t max_buffered_bytes = 48u << 20;
  // How often the pool gives back what no request needed since the last
  // time (BufferPool::shrink), while connections are open; when the last one
  // closes it gives back everything at once.
  std::chrono::milliseconds buffer_shrink_period{5'000};
  // Obtain all of it up front, in requests up to this size (the kernel's
  // default max_sectors_kb is 1280), and keep it (no shrinking); 0: as
  // requests come, and a burst's buffers go back after it.
  std::size_t preallocate_up_to = 0;
  // A client must finish the handshake within this (qemu-nbd's limit), so
  // idle connections cannot hold max_connections for long.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Once draining (DISC, EOF, shutdown), a client that reads no reply for
  // this long is closed and its pending replies dropped.
  std::chrono::milliseconds drain_timeout{5'000};
};

class Server {
 public:
  Server(boost::asio::io_context& io, BlockDevice& device, ExportOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on a unix stream socket at `path` (replaced if stale).
  std::error_code listen_unix(const std::string& path);

  // Serves a connected stream socket in transmission phase; takes the fd.
  void serve_transmission(int fd);

  // The transmission flags this export advertises (the kernel needs them):
  // fixed at construction, so FLUSH and FUA follow what the device's
  // can_flush() said then.
  std::uint16_t transmission_flags() const noexcept;

  // Stops accepting, lets in-flight requests complete and their replies go
  // out, closes every connection, then calls `done` (on the io thread).
  void shutdown(std::function<void()> done);
  // Closes every connection at once, dropping the replies still to come
  // (Session::abandon); a shutdown() in progress completes once the device
  // has answered what the connections started.
  void abandon();

  // The device changed capacity: new connections are told the new size, and
  // requests on every connection are checked against it (a client never
  // asks past the size it negotiated, unless, like the kernel, it is told
  // of the change).  On the io thread.
  void set_size(std::uint64_t size_bytes);

  // While set, every connection's writes, trims and write-zeroes fail with
  // EPERM (reads and flushes run); the advertised flags stay as they are, so
  // clients write again once it is cleared.  Requests already running finish.
  void set_writes_refused(bool refused);

  // Number of open connections (for status and tests).
  std::size_t connection_count() const noexcept;

  // No connection has a request read and unanswered, one partly read, or a
  // byte waiting in its socket: shutdown() now leaves no request that a
  // client sent unanswered (the kernel's handover, daemon/kernel_serving.cpp).
  bool quiet() const;

  // Called (posted on the io thread) each time the last open connection
  // closes: for the kernel's sockets, the kernel let go of the device.
  void set_idle_listener(std::function<void()> listener);

  // Where every connection's payload buffers come from (for status and tests).
  BufferPool& buffer_pool() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aoe::nbd
