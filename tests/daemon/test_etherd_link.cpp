// The /dev/etherd names, in a private directory: created, resolved and
// removed only while they point to our device; a real node never replaced;
// names resolved the way aoe-detach takes them.
#include "daemon/etherd_link.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.h"

using namespace aoe::daemon;
namespace fs = std::filesystem;

TEST_CASE("test-etherd-link-create-resolve-remove") {
  aoe::test::TempDir dir("aoe-etherd");
  const fs::path etherd = dir.path / "etherd";  // created on demand
  REQUIRE_FALSE(create_etherd_link("e01.2", 3, etherd));
  CHECK(fs::read_symlink(etherd / "e1.2") == "/dev/nbd3");  // the canonical spelling
  std::error_code ec;
  CHECK(resolve_etherd_link("e1.2", ec, etherd) == 3u);
  CHECK_FALSE(ec);
  // Another device's link is left alone.
  CHECK(remove_etherd_link("e1.2", 4, etherd) == etherd_errc::not_our_link);
  CHECK(fs::is_symlink(etherd / "e1.2"));
  CHECK_FALSE(remove_etherd_link("e1.2", 3, etherd));
  CHECK_FALSE(fs::exists(fs::symlink_status(etherd / "e1.2")));
  // Gone already: not an error.
  CHECK_FALSE(remove_etherd_link("e1.2", 3, etherd));
}

TEST_CASE("test-etherd-link-replaces-stale-link-not-node") {
  aoe::test::TempDir dir("aoe-etherd");
  REQUIRE_FALSE(create_etherd_link("e1.2", 0, dir.path));
  REQUIRE_FALSE(create_etherd_link("e1.2", 5, dir.path));
  CHECK(fs::read_symlink(dir.path / "e1.2") == "/dev/nbd5");
  // The kernel aoe driver's own node (here a plain file) is never replaced.
  std::ofstream(dir.path / "e7.1") << "node";
  CHECK(create_etherd_link("e7.1", 1, dir.path) == std::errc::file_exists);
  CHECK(fs::is_regular_file(dir.path / "e7.1"));
  CHECK(create_etherd_link("nbd0", 1, dir.path) == etherd_errc::not_a_target_name);
}

TEST_CASE("test-etherd-link-resolve-device-name") {
  aoe::test::TempDir dir("aoe-etherd");
  REQUIRE_FALSE(create_etherd_link("e1.2", 7, dir.path));
  std::optional<std::string> target;
  std::error_code ec;
  CHECK(resolve_device_name("/dev/nbd4", target, ec, dir.path) == 4u);
  CHECK_FALSE(target);
  CHECK(resolve_device_name("nbd4", target, ec, dir.path) == 4u);
  CHECK(resolve_device_name("e01.2", target, ec, dir.path) == 7u);
  CHECK(target == "e1.2");
  CHECK_FALSE(resolve_device_name("e1.3", target, ec, dir.path));
  CHECK(ec == std::errc::no_such_file_or_directory);
  CHECK_FALSE(resolve_device_name("sda", target, ec, dir.path));
  CHECK(ec == etherd_errc::not_a_target_name);
  // A link to something that is not an nbd device is not ours.
  fs::create_symlink("/dev/sda", dir.path / "e2.0");
  CHECK_FALSE(resolve_device_name("e2.0", target, ec, dir.path));
  CHECK(ec == etherd_errc::not_our_link);
}

TEST_CASE("test-etherd-link-udev-relative: udev's relative links resolve like ours") {
  aoe::test::TempDir dir("aoe-etherd");
  fs::create_symlink("../nbd7", dir.path / "e1.2");  // as udev makes it
  std::error_code ec;
  CHECK(resolve_etherd_link("e1.2", ec, dir.path) == 7u);
  CHECK_FALSE(ec);
  CHECK(remove_etherd_link("e1.2", 6, dir.path) == etherd_errc::not_our_link);
  CHECK_FALSE(remove_etherd_link("e1.2", 7, dir.path));
  fs::create_symlink("../sda", dir.path / "e1.3");
  CHECK_FALSE(resolve_etherd_link("e1.3", ec, dir.path));
  CHECK(ec == etherd_errc::not_our_link);
}
