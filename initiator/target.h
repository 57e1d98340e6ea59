// target.h: what we know of one AoE target (shelf.slot), as discovery found it.
//
// Discovery fills it from Query Config answers and IDENTIFY; the engine
// turns it into live paths.  A path is one (local link, target port MAC) pair.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "initiator/identify.h"
#include "initiator/link.h"
#include "initiator/wire.h"

namespace aoe {

// The most sectors any frame carries: a jumbo frame at max_mtu, as
// PathInfo::payload_sectors() counts them (17).
inline constexpr unsigned max_frame_sectors = (max_mtu - 36) / 512;

struct PathInfo {
  Link* link = nullptr;             // our NIC (owned by the caller)
  wire::Mac target_mac{};           // the target port that answered on it
  std::uint16_t buffer_count = 0;   // target port's queue depth (Query Config)
  unsigned max_sectors = 2;         // target's Sector Count (0 already mapped to 2)
  std::uint16_t firmware_version = 0;
  std::uint8_t aoe_version = 1;
  std::string config_string;

  // Sectors per ATA command on this path: the target's limit and what the
  // link MTU carries after the 36-byte header (docs/aoe-protocol.md §7; the conservative
  // (MTU - 36) / 512 that Linux and vblade use).
  unsigned payload_sectors() const noexcept {
    unsigned mtu = std::min(link ? link->info().mtu : 1500, max_mtu);
    unsigned by_mtu = mtu > 36 ? (mtu - 36) / 512 : 0;
    return std::max(1u, std::min(max_sectors, by_mtu));
  }
};

struct TargetInfo {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  Identity identity;
  std::vector<PathInfo> paths;

  std::string name() const { return wire::format_target(shelf, slot); }

  // A target's frames are sized for its weakest path.
  unsigned payload_sectors() const noexcept {
    unsigned s = 255;
    for (const auto& p : paths) s = std::min(s, p.payload_sectors());
    return paths.empty() ? 1 : s;
  }
};

}  // namespace aoe
