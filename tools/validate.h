// validate.h: the command-line values CLI11's own checks let through, or
// describe badly: an empty interface name (`-i ""`, `-i eth0,`) which would
// silently widen a command to every NIC, NaN and infinite numbers (which pass
// every range comparison), empty paths, and target names out of range.
// The checks are pure and return the sentence for the user, or nothing when
// the value is fine; every one names the accepted form or range.  The
// Validator wrappers make CLI11 refuse such values (exit 2) while parsing,
// before a tool opens any socket (tools/cli.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tools/cli.h"

namespace aoe::tools::validate {

// One -i value: interface names, comma-separated; none may be empty.
std::optional<std::string> interface_list(std::string_view value);

// A decimal number from `min` to `max` ("0.5", "60", "1e1"); not NaN, not
// infinite, no trailing text.  `what` names it in the message ("seconds").
std::optional<std::string> number(std::string_view value, double min, double max, std::string_view what);

// A whole decimal number from `min` to `max`.
std::optional<std::string> whole_number(std::string_view value, unsigned long min, unsigned long max,
                                        std::string_view what);

// A path: not empty.
std::optional<std::string> path(std::string_view value);

// eSHELF.SLOT, shelf 0-65534, slot 0-254 (the highest values are AoE's
// broadcast addresses).
std::optional<std::string> target_name(std::string_view value);

// "e" and digits and dots: meant as a target name, so checked as one where a
// device or socket path is accepted too ("e1" is a mistyped target, not a
// file in the current directory).
bool meant_as_target(std::string_view value);

// The same checks, for ->check(...).
cli::Check InterfaceList();
cli::Check Number(double min, double max, std::string what = "seconds");
cli::Check WholeNumber(unsigned long min, unsigned long max, std::string what = "");
cli::Check Path();
cli::Check TargetName();

}  // namespace aoe::tools::validate
