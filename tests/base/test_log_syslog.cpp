// base/log.h to syslog: once switched, each line is one datagram in the
// syslog format journald and syslog daemons read, with the level as the
// priority (facility daemon).  A socket of the test stands in for /dev/log.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "base/log.h"

TEST_CASE("test-log-syslog: lines become syslog datagrams with their priority") {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("aoe-log-" + std::to_string(::getpid()))).string();
  CHECK_FALSE(aoe::log::to_syslog("aoe-test", path.c_str()));  // nothing listens yet: stderr stays

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(aoe::log::to_syslog("aoe-test", path.c_str()));

  aoe::log::warning("e1.2: {} is down", "eth0");
  aoe::log::error("fatal");
  const std::string pid = std::to_string(::getpid());
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  CHECK(std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) == "<28>aoe-test[" + pid + "]: e1.2: eth0 is down");
  n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  CHECK(std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) == "<27>aoe-test[" + pid + "]: fatal");
  ::close(fd);
  std::filesystem::remove(path);
}
