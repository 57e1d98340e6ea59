#include "base/log.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace aoe::log {
namespace {

// The connected /dev/log socket once to_syslog() succeeded, else -1.
std::atomic<int> syslog_fd{-1};
const char* syslog_ident = "";

constexpr int facility_daemon = 3 << 3;  // LOG_DAEMON, spelt out to keep <syslog.h>'s macros away

}  // namespace

bool to_syslog(const char* ident, const char* socket) noexcept {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (std::strlen(socket) >= sizeof addr.sun_path) return false;
  std::strcpy(addr.sun_path, socket);
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  syslog_ident = ident;
  syslog_fd.store(fd);
  return true;
}

void write(Level level, std::string_view message) noexcept {
  if (const int fd = syslog_fd.load(); fd >= 0) {
    // One datagram per line, formatted on the stack like the line itself.
    char head[96];
    const int n = std::snprintf(head, sizeof head, "<%d>%s[%d]: ", facility_daemon + static_cast<int>(level),
                                syslog_ident, static_cast<int>(::getpid()));
    iovec parts[2] = {{head, std::min(static_cast<std::size_t>(std::max(n, 0)), sizeof head - 1)},
                      {const_cast<char*>(message.data()), message.size()}};  // sendmsg only reads it
    msghdr msg{};
    msg.msg_iov = parts;
    msg.msg_iovlen = 2;
    if (::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return;
    // A full or gone syslog socket: stderr is better than nothing.
  }
  // One writev(2) per line so concurrent processes do not interleave.
  char prefix[3] = {'<', static_cast<char>('0' + static_cast<int>(level)), '>'};
  char newline = '\n';
  iovec parts[3] = {{prefix, sizeof prefix},
                    {const_cast<char*>(message.data()), message.size()},  // writev only reads it
                    {&newline, 1}};
  [[maybe_unused]] auto n = ::writev(STDERR_FILENO, parts, 3);
}

bool RateLimit::allow(unsigned long& suppressed, std::chrono::steady_clock::time_point now) noexcept {
  if (now - window_start_ >= interval_) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++dropped_;
    return false;
  }
  ++used_;
  suppressed = dropped_;
  dropped_ = 0;
  return true;
}

}  // namespace aoe::log
