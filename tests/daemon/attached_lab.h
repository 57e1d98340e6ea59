// attached_lab.h: an AttachedTarget over a fake wire to a FakeTarget
// (tests/support/fake_target.h), with a client speaking NBD transmission on
// a socketpair (docs/nbd-protocol.md §5.1), for the daemon tests that need
// the whole of one served target: the claim rechecked, the flush before
// serving.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "daemon/attached_target.h"
#include "tests/support/fake_link.h"
#include "tests/support/fake_target.h"

namespace aoe::test {

using namespace std::chrono_literals;

constexpr std::uint16_t nbd_read = 0, nbd_write = 1, nbd_flush = 3;
constexpr std::uint16_t nbd_flag_send_flush = 1 << 2, nbd_flag_send_fua = 1 << 3;
constexpr std::uint32_t nbd_eperm = 1, nbd_eio = 5;

inline void put_be(std::byte* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = std::byte(v & 0xff);
}

struct AttachedLab {
  boost::asio::io_context io;
  FakeWire wire{io, LinkInfo{"fake0", 1, {2, 0, 0, 0, 0, 1}, 1500}, LinkInfo{"fake1", 2, {2, 0, 0, 0, 0, 0x11}, 1500}};
  FakeTarget target{io, wire.end(1)};
  std::unique_ptr<daemon::AttachedTarget> attached;
  int client = -1;

  // `setup` may change the target and the options before the attach.
  explicit AttachedLab(const std::function<void(FakeTarget&, daemon::AttachOptions&)>& setup = {}) {
    daemon::AttachOptions options;
    options.shelf = 1;
    options.slot = 2;
    options.discovery_window = 100ms;
    options.rediscover_interval = 1s;
    if (setup) setup(target, options);
    std::string error;
    attached = daemon::AttachedTarget::open(io, {&wire.end(0)}, options, error);
    REQUIRE(attached);
    io.restart();
    attached->start();
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    attached->server().serve_transmission(fds[0]);
    client = fds[1];
  }
  ~AttachedLab() {
    ::close(client);
    bool stopped = false;
    attached->stop([&] { stopped = true; });
    for (int i = 0; i < 1000 && !stopped; ++i) io.run_for(10ms);
  }

  // Runs the io loop until `done`, for at most ~10 s (never a timing assertion:
  // rediscovery runs every second).
  bool run_until(const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) io.run_for(10ms);
    return done();
  }

  // One NBD request; returns the reply's error (reads fill `data`).
  std::uint32_t request(std::uint16_t type, std::uint64_t offset, std::vector<std::byte>& data,
                        std::uint16_t flags = 0) {
    std::array<std::byte, 28> req{};
    put_be(&req[0], 0x25609513, 4);
    put_be(&req[4], flags, 2);
    put_be(&req[6], type, 2);
    put_be(&req[8], 42, 8);
    put_be(&req[16], offset, 8);
    put_be(&req[24], type == nbd_flush ? 0 : data.size(), 4);
    REQUIRE(::write(client, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    if (type == nbd_write)
      REQUIRE(::write(client, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    std::vector<std::byte> in;
    auto want = [&] {
      std::size_t need = 16;
      if (in.size() >= 8 && in[4] == std::byte{0} && in[5] == std::byte{0} && in[6] == std::byte{0} &&
          in[7] == std::byte{0} && type == nbd_read)
        need += data.size();
      return need;
    };
    REQUIRE(run_until([&] {
      pollfd p{client, POLLIN, 0};
      while (in.size() < want() && ::poll(&p, 1, 0) == 1) {
        std::array<std::byte, 4096> buf;
        ssize_t got = ::read(client, buf.data(), std::min(buf.size(), want() - in.size()));
        if (got <= 0) return true;
        in.insert(in.end(), buf.begin(), buf.begin() + got);
      }
      return in.size() >= want();
    }));
    REQUIRE(in.size() >= 16);
    std::uint32_t error = 0;
    for (int i = 4; i < 8; ++i) error = (error << 8) | std::to_integer<std::uint32_t>(in[std::size_t(i)]);
    if (type == nbd_read && error == 0) std::copy(in.begin() + 16, in.end(), data.begin());
    return error;
  }
};

}  // namespace aoe::test
