#include "daemon/status_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aoe::daemon {

namespace fs = std::filesystem;

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

bool fill_address(const fs::path& path, sockaddr_un& address, std::error_code& ec) {
  address = {};
  address.sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.size() >= sizeof address.sun_path) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return false;
  }
  std::memcpy(address.sun_path, s.c_str(), s.size() + 1);
  return true;
}

}  // namespace

std::optional<nlohmann::json> query_status(const fs::path& socket, std::chrono::milliseconds timeout,
                                           std::error_code& ec) {
  ec.clear();
  sockaddr_un address;
  if (!fill_address(socket, address, ec)) return std::nullopt;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ec = last_error();
    return std::nullopt;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // A unix connect never waits: it succeeds, is refused, or (backlog full) fails with EAGAIN.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ec = last_error();
    return std::nullopt;
  }
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ec = std::make_error_code(std::errc::timed_out);
      return std::nullopt;
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ec = last_error();
      return std::nullopt;
    }
    if (n == 0) continue;  // the deadline check above ends it
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) {
      ec = last_error();
      return std::nullopt;
    }
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
    if (text.size() > (1u << 20)) {  // a status document is a few KiB
      ec = std::make_error_code(std::errc::message_size);
      return std::nullopt;
    }
  }
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    ec = std::make_error_code(std::errc::bad_message);
    return std::nullopt;
  }
  return doc;
}

}  // namespace aoe::daemon
