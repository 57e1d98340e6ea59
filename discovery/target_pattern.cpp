#include "discovery/target_pattern.h"

#include <algorithm>
#include <charconv>

#include <fmt/core.h>

namespace aoe::discovery {

namespace {

// The largest shelf and slot a target may have: 0xFFFF and 0xFF are the
// broadcast values (docs/aoe-protocol.md §2).
constexpr unsigned max_shelf = 0xFFFE, max_slot = 0xFE;

std::optional<unsigned> number(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

// "*", "N", "N-M", or a comma list of the last two; empty vector: any.
std::optional<std::vector<TargetSelection::Range>> TargetSelection::parse_part(std::string_view text, unsigned max) {
  std::vector<Range> ranges;
  if (text == "*") return ranges;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto dash = item.find('-');
    auto first = number(item.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : number(item.substr(dash + 1));
    if (!first || !last || *first > *last || *last > max) return std::nullopt;
    ranges.push_back({*first, *last});
    if (comma == std::string_view::npos) return ranges;
    text.remove_prefix(comma + 1);
  }
}

std::optional<TargetSelection> TargetSelection::parse(const std::vector<std::string>& patterns, std::string& error) {
  TargetSelection s;
  for (const std::string& text : patterns) {
    Pattern p;
    std::string_view rest = text;
    p.exclude = rest.starts_with('!');
    if (p.exclude) rest.remove_prefix(1);
    const auto dot = rest.find('.');
    std::optional<std::vector<Range>> shelves, slots;
    if (rest.starts_with('e') && dot != std::string_view::npos) {
      shelves = parse_part(rest.substr(1, dot - 1), max_shelf);
      slots = parse_part(rest.substr(dot + 1), max_slot);
    }
    if (!shelves || !slots) {
      error = fmt::format("'{}' is not a target pattern: eSHELF.SLOT, where each of SHELF ({}-{}) and SLOT "
                          "({}-{}) is *, a number, a range N-M or a comma list (e1.*, e1.0-7, e1.0,4); "
                          "!PATTERN excludes",
                          text, 0, max_shelf, 0, max_slot);
      return std::nullopt;
    }
    p.shelves = std::move(*shelves);
    p.slots = std::move(*slots);
    s.has_include_ |= !p.exclude;
    s.patterns_.push_back(std::move(p));
  }
  return s;
}

bool TargetSelection::matches(const Pattern& p, wire::TargetId target) noexcept {
  auto in = [](const std::vector<Range>& ranges, unsigned value) {
    return ranges.empty() || std::any_of(ranges.begin(), ranges.end(), [value](const Range& r) {
             return r.first <= value && value <= r.last;
           });
  };
  return in(p.shelves, target.shelf) && in(p.slots, target.slot);
}

bool TargetSelection::matches(wire::TargetId target) const noexcept {
  bool included = !has_include_;
  for (const Pattern& p : patterns_) {
    if (!matches(p, target)) continue;
    if (p.exclude) return false;
    included = true;
  }
  return included;
}

}  // namespace aoe::discovery
