// The patterns of aoe-attach --all (discovery/target_pattern.h).
#include <catch2/catch.hpp>

#include "discovery/target_pattern.h"

namespace {

using aoe::discovery::TargetSelection;
using aoe::wire::TargetId;

TargetSelection parse(const std::vector<std::string>& patterns) {
  std::string error;
  auto s = TargetSelection::parse(patterns, error);
  INFO(error);
  REQUIRE(s);
  return *s;
}

// One selection: the patterns given, targets it takes, and targets it leaves.
struct Selection {
  std::vector<std::string> patterns;
  std::vector<TargetId> taken;
  std::vector<TargetId> left;
};

void check_selections(const std::vector<Selection>& selections) {
  for (const auto& sel : selections) {
    INFO(Catch::Detail::stringify(sel.patterns));
    const auto parsed = parse(sel.patterns);
    for (TargetId t : sel.taken) {
      INFO("takes e" << t.shelf << "." << static_cast<int>(t.slot));
      CHECK(parsed.matches(t));
    }
    for (TargetId t : sel.left) {
      INFO("leaves e" << t.shelf << "." << static_cast<int>(t.slot));
      CHECK_FALSE(parsed.matches(t));
    }
  }
}

}  // namespace

TEST_CASE("test-target-pattern-selects") {
  check_selections({
      {{}, {{7, 9}, {0, 0}}, {}},  // no pattern: every target
      {{"e1.*"}, {{1, 0}, {1, 254}}, {{2, 0}}},
      {{"e1.0-7"}, {{1, 7}}, {{1, 8}}},
      {{"e1-2.0,4,10-11", "e5.3"}, {{2, 4}, {1, 11}, {5, 3}}, {{2, 5}, {3, 0}}},
      {{"e*.*"}, {{0, 0}}, {}},
  });
}

TEST_CASE("test-target-pattern-excludes") {
  check_selections({
      {{"!e1.3"}, {{1, 2}, {4, 3}}, {{1, 3}}},  // an exclude alone: everything else
      // An exclude wins over an include, whatever the order.
      {{"!e1.8-15", "e1.*"}, {{1, 7}}, {{1, 8}, {2, 0}}},
  });
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
