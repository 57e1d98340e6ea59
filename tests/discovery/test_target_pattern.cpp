// The patterns of aoe-attach --all (discovery/target_pattern.h).
#include <catch2/catch.hpp>

#include "discovery/target_pattern.h"

namespace {

using aoe::discovery::TargetSelection;
using aoe::wire::TargetId;

TargetSelection parse(std::vector<std::string> patterns) {
  std::string error;
  auto s = TargetSelection::parse(patterns, error);
  INFO(error);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("test-target-pattern-selects") {
  CHECK(parse({}).matches(TargetId{7, 9}));
  auto shelf1 = parse({"e1.*"});
  CHECK(shelf1.matches(TargetId{1, 0}));
  CHECK(shelf1.matches(TargetId{1, 254}));
  CHECK_FALSE(shelf1.matches(TargetId{2, 0}));
  auto range = parse({"e1.0-7"});
  CHECK(range.matches(TargetId{1, 7}));
  CHECK_FALSE(range.matches(TargetId{1, 8}));
  auto lists = parse({"e1-2.0,4,10-11", "e5.3"});
  CHECK(lists.matches(TargetId{2, 4}));
  CHECK(lists.matches(TargetId{1, 11}));
  CHECK(lists.matches(TargetId{5, 3}));
  CHECK_FALSE(lists.matches(TargetId{2, 5}));
  CHECK_FALSE(lists.matches(TargetId{3, 0}));
  CHECK(parse({"e*.*"}).matches(TargetId{0, 0}));
}

TEST_CASE("test-target-pattern-excludes") {
  // An exclude alone: everything else.
  auto all_but = parse({"!e1.3"});
  CHECK(all_but.matches(TargetId{1, 2}));
  CHECK(all_but.matches(TargetId{4, 3}));
  CHECK_FALSE(all_but.matches(TargetId{1, 3}));
  // An exclude wins over an include, whatever the order.
  auto shelf_but = parse({"!e1.8-15", "e1.*"});
  CHECK(shelf_but.matches(TargetId{1, 7}));
  CHECK_FALSE(shelf_but.matches(TargetId{1, 8}));
  CHECK_FALSE(shelf_but.matches(TargetId{2, 0}));
}

TEST_CASE("test-target-pattern-refuses") {
  for (const char* bad : {"", "e1", "1.2", "e.2", "e1.", "e1.x", "e1.3-1", "e1.255", "e65535.0", "e1.2,",
                          "e1.-2", "!", "e1.2.3", "e 1.2", "e1.*,3"}) {
    std::string error;
    INFO(bad);
    CHECK_FALSE(TargetSelection::parse({bad}, error));
    CHECK(error.find("not a target pattern") != std::string::npos);
  }
}
