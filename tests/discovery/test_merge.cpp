// Merging Query Config answers into targets, and the payload they allow.
#include "discovery/discover.h"

#include <catch2/catch.hpp>

#include "tests/discovery/stub_link.h"

using namespace aoe;
using namespace aoe::discovery;

namespace {

ConfigInfo answer(Link& link, std::uint8_t mac_last, std::uint16_t shelf, std::uint8_t slot,
                  unsigned max_sectors = 2) {
  ConfigInfo a;
  a.link = &link;
  a.mac = {2, 0, 0, 0, 0, mac_last};
  a.shelf = shelf;
  a.slot = slot;
  a.buffer_count = 16;
  a.max_sectors = max_sectors;
  a.aoe_version = 1;
  return a;
}

}  // namespace

TEST_CASE("test-discovery-merge-paths") {
  test::StubLink a("a0", 1), b("b0", 2);
  // Out of order, one duplicate: every (link, port) pair once, ordered.
  auto targets = merge_answers({answer(b, 2, 1, 2), answer(a, 1, 1, 2), answer(a, 1, 1, 3),
                                answer(a, 1, 1, 2), answer(a, 3, 1, 2)},
                               {});
  REQUIRE(targets.size() == 2);
  CHECK(targets[0].name() == "e1.2");
  REQUIRE(targets[0].paths.size() == 3);
  CHECK(targets[0].paths[0].link == &a);
  CHECK(targets[0].paths[0].target_mac[5] == 1);
  CHECK(targets[0].paths[1].target_mac[5] == 3);
  CHECK(targets[0].paths[2].link == &b);
  CHECK(targets[1].name() == "e1.3");
  CHECK(targets[1].paths.size() == 1);
}

TEST_CASE("test-discovery-merge-ignores-broadcast-ids") {
  test::StubLink a("a0", 1);
  auto targets = merge_answers({answer(a, 1, 0xFFFF, 1), answer(a, 1, 1, 0xFF), answer(a, 1, 0, 0)}, {});
  REQUIRE(targets.size() == 1);
  CHECK(targets[0].name() == "e0.0");
}

TEST_CASE("test-discovery-merge-filter") {
  test::StubLink a("a0", 1);
  auto targets = merge_answers({answer(a, 1, 1, 2), answer(a, 1, 1, 3), answer(a, 1, 7, 3)},
                               {TargetId{1, 3}, TargetId{7, 3}});
  REQUIRE(targets.size() == 2);
  CHECK(targets[0].name() == "e1.3");
  CHECK(targets[1].name() == "e7.3");
}

TEST_CASE("test-discovery-payload") {
  test::StubLink small("a0", 1, 1500), jumbo("b0", 2, 9000);
  auto one = [](Link& l, unsigned max) { return merge_answers({answer(l, 1, 1, 2, max)}, {}).front(); };
  CHECK(one(small, 2).payload_sectors() * 512 == 1024);    // docs/aoe-protocol.md §7: 1500 -> 2 sectors
  CHECK(one(jumbo, 17).payload_sectors() * 512 == 8704);   // 9000 -> 17
  CHECK(one(jumbo, 8).payload_sectors() == 8);             // the target's limit wins
  // A target is sized for its weakest path.
  auto both = merge_answers({answer(small, 1, 1, 2, 17), answer(jumbo, 2, 1, 2, 17)}, {});
  CHECK(both.front().payload_sectors() == 2);
}
