// nbd_harness.h: a Server over a MemoryDevice on its own io thread, and a
// blocking raw-socket NBD client driven by the test thread.  Every blocking
// read has a timeout, so a wedged server fails the test instead of hanging it.
#pragma once

#include <catch2/catch.hpp>

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "nbd-bridge/protocol.h"
#include "nbd-bridge/server.h"
#include "tests/nbd-bridge/test_bytes.h"
#include "tests/support/memory_device.h"

namespace aoe::test {

// One end of a connection, read and written with plain blocking calls.
class RawClient {
 public:
  explicit RawClient(int fd) : fd_(fd) {
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  RawClient(const RawClient&) = delete;
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send(const Bytes& b) {
    std::size_t done = 0;
    while (done < b.size()) {
      const ssize_t n = ::send(fd_, b.data() + done, b.size() - done, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }

  // Exactly n bytes, or fails the test (EOF or 5 s without data).
  Bytes receive(std::size_t n) {
    Bytes b(n);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::recv(fd_, b.data() + done, n - done, 0);
      REQUIRE(got > 0);
      done += static_cast<std::size_t>(got);
    }
    return b;
  }

  // True once the server closed (EOF or reset), discarding anything before.
  bool closed_by_server() {
    std::byte buf[4096];
    for (;;) {
      const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got == 0 || (got < 0 && errno == ECONNRESET)) return true;
      if (got < 0) return false;  // timeout: still open
    }
  }

  // --- handshake
  void handshake_go(std::uint32_t client_flags = nbd::handshake_flags, bool structured = false,
                    std::string_view name = "") {
    const Bytes greeting = receive(18);
    REQUIRE(read_be(greeting, 16, 2) == nbd::handshake_flags);
    Bytes flags;
    be(flags, client_flags, 4);
    send(flags);
    if (structured) {
      send_option(nbd::opt_structured_reply, {});
      REQUIRE(receive_option_reply().type == nbd::rep_ack);
    }
    Bytes data;
    be(data, name.size(), 4);
    for (char c : name) data.push_back(static_cast<std::byte>(c));
    be(data, 0, 2);
    send_option(nbd::opt_go, data);
    for (;;) {
      const auto reply = receive_option_reply();
      if (reply.type == nbd::rep_ack) break;
      REQUIRE(reply.type == nbd::rep_info);
      if (read_be(reply.data, 0, 2) == nbd::info_export) {
        export_size = read_be(reply.data, 2, 8);
        export_flags = static_cast<std::uint16_t>(read_be(reply.data, 10, 2));
      }
    }
  }

  void send_option(std::uint32_t option, const Bytes& data, std::uint64_t magic = nbd::opt_magic) {
    Bytes b;
    be(b, magic, 8);
    be(b, option, 4);
    be(b, data.size(), 4);
    b.insert(b.end(), data.begin(), data.end());
    send(b);
  }

  struct OptionReply {
    std::uint32_t option, type;
    Bytes data;
  };
  OptionReply receive_option_reply() {
    const Bytes h = receive(20);
    REQUIRE(read_be(h, 0, 8) == nbd::rep_magic);
    return {static_cast<std::uint32_t>(read_be(h, 8, 4)), static_cast<std::uint32_t>(read_be(h, 12, 4)),
            receive(read_be(h, 16, 4))};
  }

  // --- transmission
  void request(std::uint16_t type, std::uint64_t cookie, std::uint64_t offset, std::uint32_t length,
               const Bytes& payload = {}, std::uint16_t flags = 0, std::uint32_t magic = nbd::request_magic) {
    Bytes b;
    be(b, magic, 4);
    be(b, flags, 2);
    be(b, type, 2);
    be(b, cookie, 8);
    be(b, offset, 8);
    be(b, length, 4);
    b.insert(b.end(), payload.begin(), payload.end());
    send(b);
  }

  struct Reply {
    std::uint32_t error;
    std::uint64_t cookie;
  };
  Reply simple_reply() {
    const Bytes h = receive(16);
    REQUIRE(read_be(h, 0, 4) == nbd::simple_reply_magic);
    return {static_cast<std::uint32_t>(read_be(h, 4, 4)), read_be(h, 8, 8)};
  }

  Bytes read(std::uint64_t offset, std::uint32_t length, std::uint64_t cookie = 1) {
    request(nbd::cmd_read, cookie, offset, length);
    const auto r = simple_reply();
    REQUIRE(r.cookie == cookie);
    REQUIRE(r.error == 0);
    return receive(length);
  }

  std::uint32_t write(std::uint64_t offset, const Bytes& data, std::uint64_t cookie = 2, std::uint16_t flags = 0) {
    request(nbd::cmd_write, cookie, offset, static_cast<std::uint32_t>(data.size()), data, flags);
    const auto r = simple_reply();
    REQUIRE(r.cookie == cookie);
    return r.error;
  }

  std::uint64_t export_size = 0;
  std::uint16_t export_flags = 0;

 private:
  int fd_;
};

// Runs f on the thread running `io` and waits for it.
template <typename F>
std::invoke_result_t<F> run_on(boost::asio::io_context& io, F f) {
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  boost::asio::post(io, [&task] { task(); });
  return result.get();
}

// A Server over a MemoryDevice, run on a separate thread.
class Harness {
 public:
  explicit Harness(std::uint64_t size = 1 << 20, nbd::ExportOptions options = {}, bool can_flush = true,
                   std::size_t max_request = 32u << 20)
      : device(io, size, can_flush, max_request), server(io, device, std::move(options)) {}

  ~Harness() { stop(); }

  // Starts the io thread; configure `device` before.
  void run() {
    thread_ = std::thread([this] { io.run(); });
  }

  // A connection straight into transmission (as the kernel's).
  int transmission_fd() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    on_io([&] { server.serve_transmission(fds[1]); });
    return fds[0];
  }

  std::string socket_path() const { return path_; }

  // A connection through the unix listener (handshake first).
  int listener_fd() {
    if (path_.empty()) {
      char dir[] = "/tmp/nbd-test-XXXXXX";
      REQUIRE(::mkdtemp(dir));
      dir_ = dir;
      path_ = dir_ + "/sock";
      std::error_code ec;
      on_io([&] { ec = server.listen_unix(path_); });
      REQUIRE_FALSE(ec);
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
  }

  // Runs f on the io thread and waits for it.
  template <typename F>
  std::invoke_result_t<F> on_io(F f) {
    return run_on(io, std::move(f));
  }

  // Polls (on the io thread) until pred() holds or 5 s pass.
  template <typename P>
  bool eventually(P pred) {
    for (int i = 0; i < 500; ++i) {
      if (on_io(pred)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Starts the server's shutdown; the future is ready once it is done.
  std::future<void> begin_shutdown() {
    auto done = std::make_shared<std::promise<void>>();
    on_io([&] { server.shutdown([done] { done->set_value(); }); });
    return done->get_future();
  }

  // Shuts the server down (draining) and joins the io thread.
  void stop() {
    if (!thread_.joinable()) return;
    std::promise<void> done;
    boost::asio::post(io, [&] { server.shutdown([&] { done.set_value(); }); });
    const bool drained = done.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready;
    CHECK(drained);
    if (!drained) io.stop();
    work_.reset();
    thread_.join();
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }

  boost::asio::io_context io;
  MemoryDevice device;
  nbd::Server server;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io.get_executor()};
  std::thread thread_;
  std::string dir_, path_;
};

}  // namespace aoe::test
