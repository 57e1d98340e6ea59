// notify_manager.h: a datagram socket bound where NOTIFY_SOCKET points, as
// systemd's manager listens, for the tests of what aoe-attach tells it
// (daemon/notify.h).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace aoe::test {

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

}  // namespace aoe::test
