#include "daemon/kernel_device_choice.h"

#include <charconv>

#include <fmt/core.h>

#include "daemon/exit_codes.h"
#include "daemon/ublk_device.h"

namespace aoe::daemon {

bool ublk_exit_race(std::string_view kernel_release) {
  unsigned major = 0, minor = 0;
  const char* end = kernel_release.data() + kernel_release.size();
  auto [p, ec] = std::from_chars(kernel_release.data(), end, major);
  if (ec != std::errc() || p == end || *p != '.') return false;  // not a release we can read
  if (std::from_chars(p + 1, end, minor).ec != std::errc()) return false;
  return major < 6 || (major == 6 && minor < 15);
}

KernelDeviceChoice choose_kernel_device(KernelDeviceKind asked, bool root_storage, std::string_view kernel_release,
                                        std::string_view target, const UblkProbe& probe) {
  if (asked == KernelDeviceKind::nbd) return {};
  if (asked == KernelDeviceKind::automatic && root_storage)
    return {KernelDeviceKind::nbd, exit_ok,
            fmt::format("{}: --kernel-device auto: nbd, as for every root file system (--kernel-device ublk to "
                        "change)", target)};
  const std::error_code ec = probe();
  if (!ec && ublk_exit_race(kernel_release)) {
    if (asked == KernelDeviceKind::automatic)
      return {KernelDeviceKind::nbd, exit_ok,
              fmt::format("{}: --kernel-device auto: nbd: the ublk driver of Linux {} can oops the kernel when "
                          "aoe-attach exits under I/O (fixed in 6.15; aoe-attach(8), UBLK); --kernel-device ublk "
                          "to use it anyway", target, kernel_release)};
    return {KernelDeviceKind::ublk, exit_ok,
            fmt::format("{}: the ublk driver of Linux {} can oops the kernel when aoe-attach exits under I/O, as "
                        "at a restart or a crash (fixed in 6.15; aoe-attach(8), UBLK)", target, kernel_release),
            true};
  }
  if (!ec)
    return {KernelDeviceKind::ublk, exit_ok,
            asked == KernelDeviceKind::automatic
                ? fmt::format("{}: --kernel-device auto: ublk, through {}", target, ublk_control_path)
                : std::string()};
  const bool missing = ec == ublk_errc::module_missing;
  if (asked == KernelDeviceKind::automatic) {
    if (missing) return {KernelDeviceKind::nbd, exit_ok, fmt::format("{}: --kernel-device auto: nbd: {}", target,
                                                                   ec.message())};
    // The driver is there and refuses us.  Denied too: by now we hold
    // CAP_NET_RAW, so what denies ublk is most likely aimed at it alone (a
    // container's device list, kernel.io_uring_disabled), and nbd may
    // serve; where nbd is denied as well, its own error follows.
    return {KernelDeviceKind::nbd, exit_ok,
            fmt::format("{}: cannot serve it as /dev/ublkbN: {}: {}; serving it as /dev/nbdN instead "
                        "(--kernel-device auto)", target, ublk_control_path, ec.message()),
            true};
  }
  const int code = missing ? exit_no_nbd
                   : ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted ? exit_permission
                                                                                                   : exit_failed;
  return {KernelDeviceKind::ublk, code,
          fmt::format("cannot serve {} as /dev/ublkbN: {}: {}{}", target, ublk_control_path, ec.message(),
                      missing ? " (load it with `modprobe ublk_drv`, or use --kernel-device nbd)" : "")};
}

}  // namespace aoe::daemon
