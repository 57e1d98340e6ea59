// /dev/etherd/eS.L links (nbd-bridge/kernel_attach.h): ours are absolute,
// udev's (udev/60-aoe-nbd.rules.in) relative; both resolve to the device,
// so aoe-detach e1.2 works whoever made the link.
#include <unistd.h>

#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "nbd-bridge/kernel_attach.h"

namespace fs = std::filesystem;

TEST_CASE("test-etherd-link-resolve: absolute and udev's relative links resolve alike") {
  const fs::path dir = fs::temp_directory_path() / ("aoe-etherd-" + std::to_string(::getpid())) / "etherd";
  fs::remove_all(dir.parent_path());
  REQUIRE_FALSE(aoe::nbd::create_etherd_link("e01.2", 3, dir));
  CHECK(fs::read_symlink(dir / "e1.2") == "/dev/nbd3");
  std::error_code ec;
  CHECK(aoe::nbd::resolve_etherd_link("e1.2", ec, dir) == 3u);

  fs::remove(dir / "e1.2");
  fs::create_symlink("../nbd7", dir / "e1.2");  // as udev makes it
  CHECK(aoe::nbd::resolve_etherd_link("e1.2", ec, dir) == 7u);
  CHECK_FALSE(ec);
  CHECK(aoe::nbd::remove_etherd_link("e1.2", 6, dir) == aoe::nbd::attach_errc::not_our_link);
  CHECK_FALSE(aoe::nbd::remove_etherd_link("e1.2", 7, dir));
  CHECK_FALSE(fs::exists(fs::symlink_status(dir / "e1.2")));

  fs::create_symlink("../sda", dir / "e1.3");
  CHECK_FALSE(aoe::nbd::resolve_etherd_link("e1.3", ec, dir));
  CHECK(ec == aoe::nbd::attach_errc::not_our_link);
  fs::remove_all(dir.parent_path());
}
