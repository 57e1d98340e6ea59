// boot_target.h: aoe-discover --abft, for the initramfs with no aoeroot= on
// the kernel command line: the target the firmware booted from (its aBFT,
// discovery/abft.h) and the local interface it booted over.
#pragma once

#include <filesystem>

namespace aoe::tools {

// Prints "eS.L MAC INTERFACE" (INTERFACE "-" when no local interface has
// the firmware's MAC) and returns 0; else says why on stderr and returns
// exit_not_found (no table: the firmware booted from no AoE target),
// exit_permission or exit_failed (unreadable, or not an aBFT).
int print_boot_target(const std::filesystem::path& table);

}  // namespace aoe::tools
