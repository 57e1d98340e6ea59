// The sd_notify sender (daemon/notify.h) against a datagram socket of the
// test, as systemd's manager listens: path and abstract addresses, the
// exact datagrams, and silence without NOTIFY_SOCKET.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/notify.h"
#include "tests/daemon/notify_manager.h"

using aoe::test::Manager;

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
