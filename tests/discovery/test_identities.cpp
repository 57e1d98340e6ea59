// Checking every port's IDENTIFY against the target's first one.
#include "discovery/discover.h"

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/discovery/stub_link.h"

using namespace aoe;
using namespace aoe::discovery;

namespace {

Identity disk(std::uint64_t sectors, std::string serial = "S1", std::string model = "M") {
  Identity i;
  i.sectors = sectors;
  i.serial = std::move(serial);
  i.model = std::move(model);
  return i;
}

TargetInfo target_with_ports(Link& link, int ports) {
  TargetInfo t;
  t.shelf = 1;
  t.slot = 2;
  for (int p = 1; p <= ports; ++p) {
    PathInfo path;
    path.link = &link;
    path.target_mac = {2, 0, 0, 0, 0, static_cast<std::uint8_t>(p)};
    t.paths.push_back(path);
  }
  return t;
}

wire::Mac port(std::uint8_t n) { return {2, 0, 0, 0, 0, n}; }

}  // namespace

TEST_CASE("test-discovery-identity-agree") {
  test::StubLink a("a0", 1);
  TargetInfo t = target_with_ports(a, 2);
  auto conflicts = apply_identities(t, {{port(1), {{}, disk(100)}}, {port(2), {{}, disk(100)}}});
  CHECK(conflicts.empty());
  CHECK(t.paths.size() == 2);
  CHECK(t.identity.sectors == 100);
}

TEST_CASE("test-discovery-identity-conflict") {
  test::StubLink a("a0", 1);
  for (Identity other : {disk(200), disk(100, "S2"), disk(100, "S1", "N")}) {
    TargetInfo t = target_with_ports(a, 3);
    auto conflicts = apply_identities(
        t, {{port(1), {{}, disk(100)}}, {port(2), {{}, other}}, {port(3), {{}, disk(100)}}});
    REQUIRE(conflicts.size() == 1);
    CHECK(conflicts[0].mac == port(2));
    CHECK(conflicts[0].link == &a);
    CHECK(conflicts[0].expected.sectors == 100);
    CHECK(conflicts[0].found.serial == other.serial);
    REQUIRE(t.paths.size() == 2);  // the impostor is never a path
    CHECK(t.paths[0].target_mac == port(1));
    CHECK(t.paths[1].target_mac == port(3));
    CHECK(describe(conflicts[0]).find("e1.2: port 02:00:00:00:00:02 on a0") == 0);
  }
}

TEST_CASE("test-discovery-identity-silent-port") {
  test::StubLink a("a0", 1);
  TargetInfo t = target_with_ports(a, 2);
  auto conflicts = apply_identities(
      t, {{port(1), {make_error_code(errc::timed_out), {}}}, {port(2), {{}, disk(100)}}});
  CHECK(conflicts.empty());
  REQUIRE(t.paths.size() == 1);
  CHECK(t.paths[0].target_mac == port(2));
  CHECK(t.identity.sectors == 100);  // the first port that answered sets it
}

TEST_CASE("test-discovery-identity-expected-disk-wins-over-first-answer") {
  // Rediscovery of an attached target: an impostor answering first must not
  // become the reference; the real ports stay, even with a new capacity.
  test::StubLink a("a0", 1);
  TargetInfo t = target_with_ports(a, 3);
  auto conflicts = apply_identities(
      t, {{port(1), {{}, disk(100, "S2")}}, {port(2), {{}, disk(150)}}, {port(3), {{}, disk(150)}}}, disk(100));
  REQUIRE(conflicts.size() == 1);
  CHECK(conflicts[0].mac == port(1));
  CHECK(conflicts[0].found.serial == "S2");
  REQUIRE(t.paths.size() == 2);
  CHECK(t.paths[0].target_mac == port(2));
  CHECK(t.identity.sectors == 150);  // resized: capacity is not identity
  CHECK(t.identity.serial == "S1");
}

TEST_CASE("test-discovery-identity-expected-disk-absent") {
  test::StubLink a("a0", 1);
  TargetInfo t = target_with_ports(a, 1);
  auto conflicts = apply_identities(t, {{port(1), {{}, disk(100, "S1", "other")}}}, disk(100));
  CHECK(conflicts.size() == 1);
  CHECK(t.paths.empty());  // discovery then reports no target: it stays down
}

TEST_CASE("test-discovery-identity-expected-other-size-is-not-a-resize") {
  // Same serial and model (vblade's serial is shelf.slot:hostname, whatever
  // the file), another size, while a port still shows the attached disk:
  // that is another disk, not a resize, even when it answers first.
  test::StubLink a("a0", 1);
  TargetInfo t = target_with_ports(a, 2);
  auto conflicts = apply_identities(t, {{port(1), {{}, disk(150)}}, {port(2), {{}, disk(100)}}}, disk(100));
  REQUIRE(conflicts.size() == 1);
  CHECK(conflicts[0].mac == port(1));
  CHECK(conflicts[0].expected.sectors == 100);
  REQUIRE(t.paths.size() == 1);
  CHECK(t.paths[0].target_mac == port(2));
  CHECK(t.identity.sectors == 100);
}
