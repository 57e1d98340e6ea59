// udev_link.h: who names an attached /dev/nbdN /dev/etherd/eS.L.  Where
// udev runs with our rule (udev/60-aoe-nbd.rules.in) it is udev, from the
// backend identifier, and systemd then knows the name as a device unit; the
// daemon waits for that link so that "ready" means the name works.
// Elsewhere (no udev, the rule not installed, or an ioctl attach, which has
// no backend identifier) the daemon makes the link itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace aoe::daemon {

struct EtherdLink {
  bool ours = false;    // made by us: removed by us on detach
  std::error_code error;  // neither udev nor we could make it
};

// Where udev reads rules and whether udevd runs; overridable for tests.
struct UdevPaths {
  std::filesystem::path control = "/run/udev/control";
  std::vector<std::filesystem::path> rule_dirs = {"/etc/udev/rules.d", "/run/udev/rules.d",
                                                  "/usr/local/lib/udev/rules.d", "/usr/lib/udev/rules.d",
                                                  "/lib/udev/rules.d"};
};

// True if udevd runs and our rule is installed (not masked by a link to
// /dev/null or an empty file of the same name, the first file found wins).
bool udev_names_devices(const UdevPaths& paths = {});

// True if udev will name /dev/nbd`index`: it runs with our rule, and the
// kernel shows `backend_id` for the device (a netlink attach; the ioctls set none).
bool udev_will_name(std::uint32_t index, const std::string& backend_id);

// Gives /dev/nbd`index` its link for `target` in `dir`: waits up to
// `udev_wait` for udev's when `by_udev`, else (or when it does not come)
// links it itself.  Blocks: not on the thread serving the device.
EtherdLink make_etherd_link(const std::string& target, std::uint32_t index, bool by_udev,
                            const std::filesystem::path& dir,
                            std::chrono::milliseconds udev_wait = std::chrono::seconds(10));

}  // namespace aoe::daemon
