// netns.h: a private, empty network namespace for unit tests that create
// interfaces or open raw sockets, so that nothing real is touched.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace aoe::test {

// Moves this process into a new network namespace (it stays there: ctest
// runs each test case in its own process).  Returns why it could not, for
// AOE_SKIP (tests/support/skip.h), or an empty string.
inline std::string enter_private_netns() {
  if (::geteuid() != 0) return "a private network namespace needs root";
  if (std::system("command -v ip >/dev/null 2>&1") != 0) return "ip (iproute2) is not installed";
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
  return {};
}

}  // namespace aoe::test
