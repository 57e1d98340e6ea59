// The claim rechecked while serving: an AttachedTarget holding a claim over
// a fake wire whose target port keeps a config string (as vblade does,
// docs/aoe-protocol.md §4.2), with a client speaking NBD transmission on a
// socketpair (docs/nbd-protocol.md §5.1).  Another identity in the string
// refuses writes (EPERM) and keeps reads; ours again lets writes through.
#include "daemon/attached_target.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "tests/support/fake_link.h"
#include "tests/support/fake_target.h"

using namespace aoe;
using namespace aoe::daemon;
using namespace std::chrono_literals;

namespace {

const std::string us = "aoe-nbd:hosta:1111";
const std::string them = "aoe-nbd:hostb:2222";

constexpr std::uint16_t nbd_read = 0, nbd_write = 1, nbd_flush = 3;
constexpr std::uint32_t nbd_eperm = 1;

void put_be(std::byte* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = std::byte(v & 0xff);
}

struct Lab {
  boost::asio::io_context io;
  test::FakeWire wire{io, LinkInfo{"fake0", 1, {2, 0, 0, 0, 0, 1}, 1500}, LinkInfo{"fake1", 2, {2, 0, 0, 0, 0, 0x11}, 1500}};
  test::FakeTarget target{io, wire.end(1)};
  std::unique_ptr<AttachedTarget> attached;
  int client = -1;

  Lab() {
    target.config = us;  // claimed before serving, as lifecycle.cpp does
    AttachOptions options;
    options.shelf = 1;
    options.slot = 2;
    options.discovery_window = 100ms;
    options.rediscover_interval = 1s;
    options.claim_identity = us;
    std::string error;
    attached = AttachedTarget::open(io, {&wire.end(0)}, options, error);
    REQUIRE(attached);
    io.restart();
    attached->start();
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    attached->server().serve_transmission(fds[0]);
    client = fds[1];
  }
  ~Lab() {
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
  std::uint32_t request(std::uint16_t type, std::uint64_t offset, std::vector<std::byte>& data) {
    std::array<std::byte, 28> req{};
    put_be(&req[0], 0x25609513, 4);
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

}  // namespace

TEST_CASE("test-claim-recheck-lost-refuses-writes") {
  Lab lab;
  CHECK(lab.attached->claim_state() == ClaimState::ours);
  std::vector<std::byte> block(512, std::byte{0x5a});
  CHECK(lab.request(nbd_write, 0, block) == 0);
  CHECK(lab.target.disk[0] == std::byte{0x5a});

  // Another host forced its claim (aoe-cfg --force-claim elsewhere).
  lab.target.config = them;
  REQUIRE(lab.run_until([&] { return lab.attached->claim_state() == ClaimState::lost; }));
  std::vector<std::byte> other(512, std::byte{0x77});
  CHECK(lab.request(nbd_write, 512, other) == nbd_eperm);
  CHECK(lab.target.disk[512] == std::byte{0});  // nothing reached the disk
  std::vector<std::byte> read(512);
  CHECK(lab.request(nbd_read, 0, read) == 0);
  CHECK(read == block);
  std::vector<std::byte> none;
  CHECK(lab.request(nbd_flush, 0, none) == 0);

  // Given back: writes resume.
  lab.target.config = us;
  REQUIRE(lab.run_until([&] { return lab.attached->claim_state() == ClaimState::ours; }));
  CHECK(lab.request(nbd_write, 512, other) == 0);
  CHECK(lab.target.disk[512] == std::byte{0x77});
}

TEST_CASE("test-claim-recheck-empty-taken-back") {
  // A restarted vblade forgot the claim: the next rediscovery writes it back
  // ("set if empty") and writes go on.
  Lab lab;
  lab.target.config.clear();
  REQUIRE(lab.run_until([&] { return lab.target.config == us; }));
  CHECK(lab.attached->claim_state() == ClaimState::ours);
  std::vector<std::byte> block(512, std::byte{0x33});
  CHECK(lab.request(nbd_write, 0, block) == 0);
}
