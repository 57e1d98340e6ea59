#include "daemon/ublk_takeover.h"

namespace aoe::daemon {

namespace {
constexpr std::uint64_t mark_magic = 0x414f45;  // "AOE"
constexpr int magic_shift = 40;
}  // namespace

std::uint64_t ublk_mark(std::uint16_t shelf, std::uint8_t slot) noexcept {
  return mark_magic << magic_shift | std::uint64_t{shelf} << 8 | slot;
}

std::optional<MarkedTarget> target_of_ublk_mark(std::uint64_t mark) noexcept {
  if (mark >> magic_shift != mark_magic || (mark >> 24 & 0xffff) != 0) return std::nullopt;
  return MarkedTarget{static_cast<std::uint16_t>(mark >> 8 & 0xffff), static_cast<std::uint8_t>(mark & 0xff)};
}

Takeover takeover_of(const ublk::DevInfo& info, bool server_alive) noexcept {
  if (!(info.flags & ublk::f_user_recovery)) return server_alive ? Takeover::served : Takeover::replace;
  switch (info.state) {
    case ublk::state_quiesced:
      return Takeover::recover;
    case ublk::state_live:
      return server_alive ? Takeover::served : Takeover::wait;
    default:  // dead: added but never started, or stopped
      return server_alive ? Takeover::served : Takeover::replace;
  }
}

}  // namespace aoe::daemon
