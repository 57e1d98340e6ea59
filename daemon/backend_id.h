// backend_id.h: the backend identifier aoe-attach gives each /dev/nbdN it
// attaches over generic netlink, "aoe-nbd:eS.L".  The kernel shows it in
// /sys/block/nbdN/backend (docs/nbd-protocol.md §5.3), which is how udev
// names the device /dev/etherd/eS.L (udev/60-aoe-nbd.rules.in) and how
// anyone tells our devices from other nbd users'.  Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aoe::daemon {

inline constexpr std::string_view backend_prefix = "aoe-nbd:";

// "aoe-nbd:e1.2" for the target "e1.2" (in the spelling wire::format_target gives).
std::string backend_id(std::string_view target);

// The target of an identifier backend_id() made, or nothing for anything
// else: other prefixes, names out of range, non-canonical spellings
// ("aoe-nbd:e01.2"), trailing text.  What it returns is safe as a file name.
std::optional<std::string> target_of_backend(std::string_view id);

}  // namespace aoe::daemon
