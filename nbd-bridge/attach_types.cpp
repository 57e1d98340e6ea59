#include "nbd-bridge/attach_types.h"

#include <cerrno>

#include "base/error_category.h"

namespace aoe::nbd {

namespace {

const char* describe(attach_errc e) noexcept {
  switch (e) {
    case attach_errc::module_missing:
      // The fact only: the tools add what to do (aoe-attach: modprobe or --socket).
      return "the kernel nbd driver is not loaded: no generic netlink family \"nbd\" and no /dev/nbd0";
    case attach_errc::permission_denied:
      return "attaching or detaching /dev/nbdN needs root (CAP_SYS_ADMIN)";
    case attach_errc::device_busy:
      return "the nbd device is already in use: name another --device or leave it out";
    case attach_errc::no_such_device: return "no such nbd device";
    case attach_errc::no_free_device: return "every /dev/nbdN is in use";
    case attach_errc::not_connected: return "the nbd device is not connected";
    case attach_errc::bad_block_size: return "block size must be a power of two from 512 to 4096";
    case attach_errc::bad_size: return "the device size must not be zero";
    case attach_errc::no_sockets: return "no socket to attach";
    case attach_errc::netlink_failure: return "generic netlink request to the nbd driver failed";
  }
  return nullptr;
}

}  // namespace

const std::error_category& attach_category() noexcept {
  static const base::EnumCategory<attach_errc, describe> category("aoe-nbd-attach");
  return category;
}

std::error_code errno_code(int err) noexcept {
  switch (err) {
    case EPERM:
    case EACCES: return attach_errc::permission_denied;
    case EBUSY: return attach_errc::device_busy;
    default: return {err, std::system_category()};
  }
}

std::string device_path_of(std::uint32_t index) { return "/dev/nbd" + std::to_string(index); }

std::filesystem::path sysfs_dir_of(std::uint32_t index) {
  return "/sys/block/nbd" + std::to_string(index);
}

bool sysfs_running(std::uint32_t index) {
  std::error_code ignored;
  return std::filesystem::exists(sysfs_dir_of(index) / "pid", ignored);
}

}  // namespace aoe::nbd
