// catch2/catch.hpp for Catch2 v3 (Debian 13): the tests are written against
// Catch2 v2's single header (Debian 12); tests/CMakeLists.txt puts this
// folder on the include path only when it found v3, which has no such
// header.  What the tests use of v2 and v3 renamed is spelled here.
#pragma once

#include <string>

#include <catch2/catch_all.hpp>

namespace Catch {

// v2's Catch::Contains(string) is v3's Matchers::ContainsSubstring.
inline Matchers::StringContainsMatcher Contains(const std::string& text,
                                                CaseSensitive sensitive = CaseSensitive::Yes) {
  return Matchers::ContainsSubstring(text, sensitive);
}

}  // namespace Catch
