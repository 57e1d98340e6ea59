#include "tools/validate.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include <fmt/core.h>

#include "initiator/wire.h"

namespace aoe::tools::validate {
std::optional<std::string> interface_list(std::string_view value) {
  for (std::size_t start = 0;;) {
    const std::size_t comma = value.find(',', start);
    if (value.substr(start, comma - start).empty())
      return fmt::format("'{}' has an empty interface name: name interfaces like eth0 or eth0,eth1 "
                         "(leave out -i for every Ethernet interface that is up)",
                         value);
    if (comma == std::string_view::npos) return std::nullopt;
    start = comma + 1;
  }
}

std::optional<std::string> number(std::string_view value, double min, double max, std::string_view what) {
  double parsed = 0;
  const char* end = value.data() + value.size();
  auto [stop, ec] = std::from_chars(value.data(), end, parsed);
  // from_chars reads "nan" and "inf" too: std::isfinite refuses them, and the range NaN slips through.
  if (ec != std::errc() || stop != end || !std::isfinite(parsed) || parsed < min || parsed > max)
    return fmt::format("'{}' is not a number of {} from {} to {}", value, what, min, max);
  return std::nullopt;
}

std::optional<std::string> whole_number(std::string_view value, unsigned long min, unsigned long max,
                                        std::string_view what) {
  unsigned long parsed = 0;
  const char* end = value.data() + value.size();
  auto [stop, ec] = std::from_chars(value.data(), end, parsed);
  if (ec != std::errc() || stop != end || parsed < min || parsed > max)
    return fmt::format("'{}' is not a whole number{}{} from {} to {}", value, what.empty() ? "" : " of ", what,
                       min, max);
  return std::nullopt;
}

std::optional<std::string> path(std::string_view value) {
  if (value.empty()) return "the path is empty";
  return std::nullopt;
}

std::optional<std::string> target_name(std::string_view value) {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  if (wire::parse_target(value, shelf, slot)) return std::nullopt;
  return fmt::format("'{}' is not a target name eSHELF.SLOT with shelf 0-{} and slot 0-{} (e.g. e1.2)", value,
                     wire::broadcast_shelf - 1, wire::broadcast_slot - 1);
}

bool meant_as_target(std::string_view value) {
  return value.size() > 1 && value[0] == 'e' &&
         value.find_first_not_of("0123456789.", 1) == std::string_view::npos;
}

cli::Check InterfaceList() { return {interface_list, "IFACE[,IFACE...]"}; }

cli::Check Number(double min, double max, std::string what) {
  return {[=](std::string_view v) { return number(v, min, max, what); }, fmt::format("{} to {}", min, max)};
}

cli::Check WholeNumber(unsigned long min, unsigned long max, std::string what) {
  return {[=](std::string_view v) { return whole_number(v, min, max, what); }, fmt::format("{} to {}", min, max)};
}

cli::Check Path() { return {path, ""}; }

cli::Check TargetName() { return {target_name, ""}; }

}  // namespace aoe::tools::validate
