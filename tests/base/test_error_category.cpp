// base::EnumCategory: the name and messages of an error enum, and what a
// value the enum does not name reads as.
#include "base/error_category.h"

#include <catch2/catch.hpp>

#include <string>

namespace {

enum class sample_errc { first = 1, second = 7 };

const char* describe_sample(sample_errc e) noexcept {
  switch (e) {
    case sample_errc::first: return "the first thing went wrong";
    case sample_errc::second: return "the second thing went wrong";
  }
  return nullptr;
}

const aoe::base::EnumCategory<sample_errc, describe_sample> sample_category("sample");

}  // namespace

TEST_CASE("test-error-category-messages", "[error-category]") {
  CHECK(sample_category.name() == std::string("sample"));
  CHECK(std::error_code(1, sample_category).message() == "the first thing went wrong");
  CHECK(std::error_code(7, sample_category).message() == "the second thing went wrong");
}

TEST_CASE("test-error-category-unknown-value", "[error-category]") {
  CHECK(std::error_code(0, sample_category).message() == "unknown sample error 0");
  CHECK(std::error_code(3, sample_category).message() == "unknown sample error 3");
  CHECK(std::error_code(-5, sample_category).message() == "unknown sample error -5");
}
