#include "daemon/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace aoe::daemon {

Notifier Notifier::from_environment() {
  const char* address = std::getenv("NOTIFY_SOCKET");
  return Notifier(address ? address : "");
}

std::string Notifier::fmt_state(std::string_view first, std::string_view status) {
  std::string state(first);
  if (!status.empty()) {
    if (!state.empty()) state += '\n';
    state += "STATUS=";
    // One line: a newline would start another assignment.
    for (char c : status) state += c == '\n' ? ' ' : c;
  }
  return state;
}

std::error_code Notifier::send(std::string_view state) const {
  if (address_.empty() || state.empty()) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // A path, or "@name": the abstract namespace, where the name starts with a NUL.
  if ((address_[0] != '/' && address_[0] != '@') || address_.size() >= sizeof addr.sun_path)
    return std::make_error_code(std::errc::invalid_argument);
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  if (address_[0] == '@') addr.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {errno, std::generic_category()};
  std::error_code ec;
  if (::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), length) < 0)
    ec = {errno, std::generic_category()};
  ::close(fd);
  return ec;
}

}  // namespace aoe::daemon
