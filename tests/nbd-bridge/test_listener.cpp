// The unix socket listener: who may connect.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "tests/nbd-bridge/nbd_harness.h"

using namespace aoe::test;

TEST_CASE("test-nbd-listener-socket-0600-under-umask-000") {
  // Whoever connects reads and writes the disk: a permissive umask (000, or
  // 002 for a group) must not open it to others.
  const mode_t saved = ::umask(0);
  Harness h;
  h.run();
  const int fd = h.listener_fd();
  // The listener narrows the umask around bind() only: what it leaves
  // behind is the umask it found (000 here), read before ours goes back.
  const mode_t left = ::umask(saved);
  CHECK(left == 0);
  RawClient c(fd);
  struct stat st {};
  REQUIRE(::stat(h.socket_path().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
}
