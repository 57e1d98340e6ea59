#include "daemon/socket_path.h"

#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace aoe::daemon {

std::optional<std::string> socket_path_problem(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  constexpr std::size_t max_path = sizeof(sockaddr_un{}.sun_path) - 1;
  if (path.native().size() > max_path)
    return fmt::format("{}: too long for a unix socket (at most {} bytes)", path.string(), max_path);
  const fs::path dir = path.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return fmt::format("{}: no directory {}", path.string(), dir.string());
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return fmt::format("{}: cannot create a socket in {}: {}", path.string(), dir.string(), std::strerror(errno));
  const auto st = fs::symlink_status(path, ec);
  if (fs::exists(st) && !fs::is_socket(st))
    return fmt::format("{}: exists and is not a socket (remove it or choose another path)", path.string());
  return std::nullopt;
}

}  // namespace aoe::daemon
