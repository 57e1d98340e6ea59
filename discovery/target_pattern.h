// target_pattern.h: which targets `aoe-attach --all PATTERN...` serves
// (docs/shelf.md).  A pattern is eSHELVES.SLOTS where each part is `*`, a
// number, a range N-M, or a comma list of those: e1.*, e1.0-7, e1-2.0,4,8.
// A pattern starting with `!` excludes what it matches.  A target is
// selected when it matches a pattern that is not an exclude (or there is
// none) and no exclude.  Pure: parsed once, matched on every announcement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "initiator/wire.h"

namespace aoe::discovery {

class TargetSelection {
 public:
  // Every target.
  TargetSelection() = default;

  // Parses the patterns; nothing, with a sentence for the user in `error`,
  // if one is not a pattern.
  static std::optional<TargetSelection> parse(const std::vector<std::string>& patterns, std::string& error);

  bool matches(wire::TargetId target) const noexcept;

 private:
  struct Range {
    unsigned first = 0, last = 0;
  };
  struct Pattern {
    std::vector<Range> shelves, slots;  // empty: any
    bool exclude = false;
  };
  static bool matches(const Pattern& p, wire::TargetId target) noexcept;
  static std::optional<std::vector<Range>> parse_part(std::string_view text, unsigned max);

  std::vector<Pattern> patterns_;
  bool has_include_ = false;
};

}  // namespace aoe::discovery
