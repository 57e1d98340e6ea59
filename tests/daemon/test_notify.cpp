// The sd_notify sender (daemon/notify.h) against a datagram socket of the
// test, as systemd's manager listens: path and abstract addresses, the
// exact datagrams, and silence without NOTIFY_SOCKET.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/notify.h"

namespace {

// A bound datagram socket; `address` is what NOTIFY_SOCKET would say.
struct Manager {
  int fd = -1;
  std::string address;

  explicit Manager(std::string addr) : address(std::move(addr)) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, address.data(), address.size());
    if (address[0] == '@') sa.sun_path[0] = '\0';
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size())) == 0);
  }
  ~Manager() {
    ::close(fd);
    if (address[0] == '/') std::filesystem::remove(address);
  }
  // The next datagram, or "" if none is queued.
  std::string receive() {
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

}  // namespace

TEST_CASE("test-notify-datagrams: READY, STATUS and STOPPING reach a path socket as sd_notify sends them") {
  Manager manager((std::filesystem::temp_directory_path() / ("aoe-notify-" + std::to_string(::getpid()))).string());
  aoe::daemon::Notifier notifier(manager.address);
  REQUIRE(notifier.enabled());
  REQUIRE_FALSE(notifier.status("searching for e1.2"));
  CHECK(manager.receive() == "STATUS=searching for e1.2");
  REQUIRE_FALSE(notifier.ready("serving e1.2 on /dev/nbd0"));
  CHECK(manager.receive() == "READY=1\nSTATUS=serving e1.2 on /dev/nbd0");
  REQUIRE_FALSE(notifier.stopping("draining\nnow"));  // a newline would start another assignment
  CHECK(manager.receive() == "STOPPING=1\nSTATUS=draining now");
  CHECK(manager.receive().empty());
}

TEST_CASE("test-notify-abstract: an @ address is the abstract namespace") {
  Manager manager("@aoe-notify-test-" + std::to_string(::getpid()));
  aoe::daemon::Notifier notifier(manager.address);
  REQUIRE_FALSE(notifier.ready(""));
  CHECK(manager.receive() == "READY=1");
}

TEST_CASE("test-notify-environment: without NOTIFY_SOCKET nothing is sent; a bad address is an error") {
  ::unsetenv("NOTIFY_SOCKET");
  auto off = aoe::daemon::Notifier::from_environment();
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.ready("x"));
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  auto bad = aoe::daemon::Notifier::from_environment();
  CHECK(bad.ready("x") == std::errc::invalid_argument);
  ::unsetenv("NOTIFY_SOCKET");
}
