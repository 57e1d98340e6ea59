// skip.h: a Catch2 test case that cannot run here (it needs root, a
// network namespace, a tool) says why and is reported as skipped, never as
// passed: AOE_SKIP returns from the test case, and the test binary then
// exits 77 if nothing failed (tests/support/catch_main.cpp), which ctest
// counts as a skip (SKIP_RETURN_CODE 77 in catch_discover_tests' PROPERTIES).
#pragma once

#include <string>

namespace aoe::test {

// Records that the running test case was skipped and prints the reason.
void note_skip(const std::string& reason);
// Whether any test case of this run was skipped.
bool any_skipped() noexcept;

}  // namespace aoe::test

#define AOE_SKIP(reason)                 \
  do {                                   \
    ::aoe::test::note_skip(reason);      \
    return;                              \
  } while (false)
