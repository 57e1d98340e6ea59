// errc as std::error_code: AoE error codes, messages and errno mapping.
#include "initiator/errors.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

using namespace aoe;

TEST_CASE("test-errors-aoe-codes", "[errors]") {
  // Codes 1..6 of docs/aoe-protocol.md §2.2; 0 and 7+ are unknown.
  CHECK(from_aoe_error(1) == errc::aoe_unrecognized_command);
  CHECK(from_aoe_error(2) == errc::aoe_bad_argument);
  CHECK(from_aoe_error(3) == errc::aoe_device_unavailable);
  CHECK(from_aoe_error(4) == errc::aoe_config_string_present);
  CHECK(from_aoe_error(5) == errc::aoe_unsupported_version);
  CHECK(from_aoe_error(6) == errc::aoe_target_reserved);
  for (unsigned code : {0u, 7u, 8u, 255u}) CHECK(from_aoe_error(code) == errc::aoe_unknown_error);
}

TEST_CASE("test-errors-messages", "[errors]") {
  const std::error_code ec = errc::bad_config_length;
  CHECK(ec.category().name() == std::string("aoe"));
  CHECK(ec.message() == "bad config string length");
  for (int v : {1, 5, 10, 101, 107, 201, 203, 301, 309}) {
    INFO(v);
    CHECK(std::error_code(v, aoe_category()).message().find("unknown aoe error") == std::string::npos);
  }
  CHECK(std::error_code(99, aoe_category()).message() == "unknown aoe error 99");
}

TEST_CASE("test-errors-errno", "[errors]") {
  CHECK(to_errno({}) == 0);
  CHECK(to_errno(errc::bad_data_length) == EIO);
  CHECK(to_errno(errc::ata_media_error) == EIO);
  CHECK(to_errno(errc::ata_aborted) == EIO);  // every ATA failure is EIO, as from a local disk
  CHECK(to_errno(errc::aoe_target_reserved) == EACCES);
  CHECK(to_errno(errc::not_aligned) == EINVAL);
  CHECK(to_errno(errc::timed_out) == ETIMEDOUT);
  CHECK(to_errno(std::make_error_code(std::errc::no_space_on_device)) == ENOSPC);
  // Each value compares equal to its portable condition.
  CHECK(std::error_code(errc::timed_out) == std::errc::timed_out);
  CHECK(std::error_code(errc::target_down) == std::errc::io_error);
}
