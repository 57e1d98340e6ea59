#include "daemon/udev_link.h"

#include <fstream>
#include <string>
#include <thread>

#include "base/log.h"
#include "daemon/etherd_link.h"

namespace aoe::daemon {

bool udev_names_devices(const UdevPaths& paths) {
  std::error_code ec;
  if (!std::filesystem::exists(paths.control, ec)) return false;
  for (const auto& dir : paths.rule_dirs) {
    const auto rule = dir / "60-aoe-nbd.rules";
    if (!std::filesystem::exists(std::filesystem::symlink_status(rule, ec))) continue;
    // udev's masking conventions: a link to /dev/null, or an empty file.
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(rule, ec)) &&
        std::filesystem::read_symlink(rule, ec) == "/dev/null")
      return false;
    return std::filesystem::file_size(rule, ec) > 0 && !ec;
  }
  return false;
}

bool udev_will_name(std::uint32_t index, const std::string& backend_id) {
  if (!udev_names_devices()) return false;
  std::ifstream file("/sys/block/nbd" + std::to_string(index) + "/backend");
  std::string shown;
  std::getline(file, shown);
  return shown == backend_id;
}

EtherdLink make_etherd_link(const std::string& target, std::uint32_t index, bool by_udev,
                            const std::filesystem::path& dir, std::chrono::milliseconds udev_wait) {
  if (by_udev) {
    const auto until = std::chrono::steady_clock::now() + udev_wait;
    do {
      std::error_code ec;
      if (resolve_etherd_link(target, ec, dir) == index) {
        log::info("{}: udev named /dev/nbd{} {}/{}", target, index, dir.string(), target);
        return {};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < until);
    log::warning("{}: udev did not link {}/{} to /dev/nbd{} within {} ms; linking it here", target,
                 dir.string(), target, index, udev_wait.count());
  }
  EtherdLink link;
  link.error = create_etherd_link(target, index, dir);
  link.ours = !link.error;
  return link;
}

}  // namespace aoe::daemon
