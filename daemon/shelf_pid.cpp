#include "daemon/shelf_pid.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "daemon/status_schema.h"

namespace aoe::daemon {

namespace {

pid_t read_pid(int fd) {
  char buf[32] = {};
  const auto n = ::pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? static_cast<pid_t>(std::atol(buf)) : 0;
}

}  // namespace

std::filesystem::path shelf_pid_path() { return run_dir() / "all.pid"; }

int lock_shelf_pid(pid_t& holder, std::error_code& ec) {
  std::filesystem::create_directories(run_dir(), ec);
  if (ec) return -1;
  const int fd = ::open(shelf_pid_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    ec = {errno, std::generic_category()};
    return -1;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ec = errno == EWOULDBLOCK ? std::make_error_code(std::errc::resource_unavailable_try_again)
                              : std::error_code(errno, std::generic_category());
    holder = read_pid(fd);
    ::close(fd);
    return -1;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ec = {errno, std::generic_category()};
    ::close(fd);
    return -1;
  }
  return fd;
}

std::optional<pid_t> running_shelf() {
  const int fd = ::open(shelf_pid_path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<pid_t> pid;
  // Taking the lock means nobody holds it: a stale file.
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    const pid_t p = read_pid(fd);
    if (p > 0) pid = p;
  }
  ::close(fd);
  return pid;
}

}  // namespace aoe::daemon
