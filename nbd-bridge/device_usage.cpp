#include "nbd-bridge/device_usage.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "nbd-bridge/attach_types.h"

namespace aoe::nbd {

namespace {

// The device or one of its partitions (/dev/nbd0p1), however it was named.
bool names_device(const std::string& source, const std::string& dev) {
  std::error_code ec;
  const auto real = std::filesystem::canonical(source, ec);
  if (ec) return false;
  const std::string path = real.string();
  return path == dev || (path.starts_with(dev + "p") && path.size() > dev.size() + 1);
}

std::optional<std::string> mounted_on(const std::string& dev) {
  std::ifstream mounts("/proc/self/mounts");
  std::string source, where, rest;
  while (mounts >> source >> where && std::getline(mounts, rest))
    if (source.starts_with("/dev/") && names_device(source, dev)) return where;
  return std::nullopt;
}

// Device mapper, md and the like stacked on the device or a partition.
std::optional<std::string> first_holder(const std::string& name) {
  const auto dir = std::filesystem::path("/sys/block") / name;
  std::error_code ec;
  std::vector<std::filesystem::path> holders{dir / "holders"};
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().filename().string().starts_with(name + "p")) holders.push_back(entry.path() / "holders");
  for (const auto& h : holders)
    for (const auto& entry : std::filesystem::directory_iterator(h, ec)) return entry.path().filename().string();
  return std::nullopt;
}

}  // namespace

std::optional<std::string> in_use(std::uint32_t index) {
  return block_device_in_use(std::filesystem::path(device_path_of(index)).filename().string());
}

std::optional<std::string> block_device_in_use(const std::string& name) {
  const std::string dev = "/dev/" + name;
  if (auto where = mounted_on(dev)) return "mounted on " + *where;
  if (auto holder = first_holder(name)) return "held by " + *holder;
  // Mounts in other mount namespaces and other exclusive openers: the
  // kernel refuses a second exclusive open.
  const int fd = ::open(dev.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
  else if (errno == EBUSY) return "opened exclusively (mounted in another namespace, or a file system or "
                                  "volume manager holds it)";
  return std::nullopt;
}

}  // namespace aoe::nbd
