// Interface selection (-i) and the rtnetlink link watcher.
#include "discovery/interfaces.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/support/netns.h"
#include "tests/support/skip.h"

using namespace aoe;
using namespace aoe::discovery;

namespace {

Interface make_interface(std::string name, bool up, bool ethernet = true) {
  Interface i;
  i.name = std::move(name);
  i.up = up;
  i.ethernet = ethernet;
  return i;
}

}  // namespace

TEST_CASE("test-discovery-interface-names") {
  CHECK(split_interface_names({}).empty());
  CHECK(split_interface_names({"eth0"}) == std::vector<std::string>{"eth0"});
  CHECK(split_interface_names({"eth0,eth1", "eth2", ",eth1,,"}) ==
        std::vector<std::string>{"eth0", "eth1", "eth2"});
}

TEST_CASE("test-discovery-interface-selection") {
  std::vector<Interface> all{make_interface("lo", true, false), make_interface("eth0", true), make_interface("eth1", false),
                             make_interface("eth2", true)};
  SECTION("default: up Ethernet links, loopback excluded") {
    Selection s = select_interfaces(all, {});
    REQUIRE(!s.error);
    REQUIRE(s.interfaces.size() == 2);
    CHECK(s.interfaces[0].name == "eth0");
    CHECK(s.interfaces[1].name == "eth2");
  }
  SECTION("named: exactly those, in the order given, even when down") {
    Selection s = select_interfaces(all, {"eth2", "eth1"});
    REQUIRE(!s.error);
    REQUIRE(s.interfaces.size() == 2);
    CHECK(s.interfaces[0].name == "eth2");
    CHECK(s.interfaces[1].name == "eth1");
  }
  SECTION("a missing name is an error that names it") {
    Selection s = select_interfaces(all, {"eth0", "eth9"});
    CHECK(s.error == errc::interface_not_found);
    CHECK(s.message.find("eth9") != std::string::npos);
    CHECK(s.interfaces.empty());
  }
  SECTION("loopback and other non-Ethernet links are used when named") {
    Selection s = select_interfaces(all, {"lo"});
    CHECK_FALSE(s.error);
    REQUIRE(s.interfaces.size() == 1);
    CHECK(s.interfaces[0].name == "lo");
  }
}

// Runs in a private network namespace (root only) so `ip link` touches
// nothing real; skipped (exit 77) elsewhere.
TEST_CASE("test-discovery-link-watcher") {
  if (auto why = test::enter_private_netns(); !why.empty()) AOE_SKIP(why);
  REQUIRE(std::system("ip link add w0 type veth peer name w1 && ip link set w0 up") == 0);
  std::error_code ec;
  auto all = list_interfaces(ec);
  REQUIRE(!ec);
  REQUIRE(select_interfaces(all, {"w0"}).interfaces.size() == 1);

  boost::asio::io_context io;
  std::vector<LinkEvent> events;
  auto watcher = LinkWatcher::open(io, [&](const LinkEvent& e) { events.push_back(e); }, ec);
  REQUIRE(watcher);
  // Waits for an event that satisfies `what` (one change may come as several,
  // and deleting w0 removes its peer w1 too).
  auto wait_for = [&](auto what) {
    auto seen = [&] { return std::any_of(events.begin(), events.end(), what); };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!seen() && std::chrono::steady_clock::now() < deadline)
      io.run_for(std::chrono::milliseconds(50));
    return seen();
  };

  REQUIRE(std::system("ip link set w0 down") == 0);
  CHECK(wait_for([](const LinkEvent& e) { return e.interface.name == "w0" && !e.interface.up; }));

  REQUIRE(std::system("ip link set w0 mtu 9000 up") == 0);
  CHECK(wait_for([](const LinkEvent& e) { return e.interface.up && e.interface.mtu == 9000; }));

  REQUIRE(std::system("ip link del w0") == 0);
  CHECK(wait_for([](const LinkEvent& e) { return e.removed && e.interface.name == "w0"; }));
}
