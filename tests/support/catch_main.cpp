// The main of every Catch2 test binary: Catch's, except that a run in which
// nothing failed but something was skipped (AOE_SKIP) exits 77, ctest's
// skip code, so a test that could not run never shows as passed.  Catch2 v2
// (Debian 12) is one header, v3 (Debian 13) a library with its own headers.
#if AOE_CATCH2_V3
#include <catch2/catch_session.hpp>
#include <catch2/catch_test_macros.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include "tests/support/skip.h"

namespace aoe::test {

namespace {
bool skipped = false;
}

void note_skip(const std::string& reason) {
  skipped = true;
  WARN("SKIPPED: " << reason);
}

bool any_skipped() noexcept { return skipped; }

}  // namespace aoe::test

int main(int argc, char* argv[]) {
  const int failed = Catch::Session().run(argc, argv);
  if (failed == 0 && aoe::test::any_skipped()) return 77;
  return failed;
}
