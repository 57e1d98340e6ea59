// ublk_takeover.h: which ublk device is ours, and what a starting
// aoe-attach does with one its predecessor left (docs/architecture.md,
// "ublk serving").  Pure.
//
// The kernel keeps a server's own 64 bits (ublksrv_flags) with each device
// and returns them in GET_DEV_INFO: aoe-attach marks its devices with the
// target they serve there, as the nbd backend identifier does for /dev/nbdN.
#pragma once

#include <cstdint>
#include <optional>

#include "daemon/ublk_abi.h"

namespace aoe::daemon {

// "AoE" in the top bits, then shelf and slot.
std::uint64_t ublk_mark(std::uint16_t shelf, std::uint8_t slot) noexcept;
struct MarkedTarget {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
};
std::optional<MarkedTarget> target_of_ublk_mark(std::uint64_t mark) noexcept;

enum class Takeover {
  recover,   // quiesced, its server gone: START/END_USER_RECOVERY and serve it
  wait,      // live, its server dead: the kernel has not noticed yet; ask again shortly
  served,    // live, its server alive: someone else serves it
  replace,   // never started, dead, or made without recovery: delete it and add a new one
};

// `server_alive`: whether the process info.ublksrv_pid still runs.
Takeover takeover_of(const ublk::DevInfo& info, bool server_alive) noexcept;

}  // namespace aoe::daemon
