// The daemon's checks before it serves: whether a --socket path can be
// bound (daemon/socket_path.h), and whether udev names the device
// (daemon/udev_link.h), over scratch directories.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "daemon/udev_link.h"
#include "daemon/socket_path.h"

namespace fs = std::filesystem;
using aoe::daemon::socket_path_problem;

namespace {
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("aoe-daemon-checks-" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
};
}  // namespace

TEST_CASE("test-daemon-socket-path: unusable socket paths are found before serving") {
  Scratch s;
  CHECK_FALSE(socket_path_problem(s.dir / "e1.2.sock"));
  auto missing = socket_path_problem(s.dir / "nosuch" / "e1.2.sock");
  REQUIRE(missing);
  CHECK_THAT(*missing, Catch::Contains("no directory"));
  auto long_path = socket_path_problem(s.dir / std::string(120, 'x'));
  REQUIRE(long_path);
  CHECK_THAT(*long_path, Catch::Contains("at most 107 bytes"));
  std::ofstream(s.dir / "file") << "x";
  auto file = socket_path_problem(s.dir / "file");
  REQUIRE(file);
  CHECK_THAT(*file, Catch::Contains("not a socket"));
  if (::geteuid() != 0) {  // root may write anywhere
    fs::create_directory(s.dir / "ro");
    fs::permissions(s.dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    auto denied = socket_path_problem(s.dir / "ro" / "e1.2.sock");
    REQUIRE(denied);
    CHECK_THAT(*denied, Catch::Contains("Permission denied"));
  }
}

TEST_CASE("test-daemon-udev-detect: udev names devices only if udevd runs and our rule is live") {
  Scratch s;
  aoe::daemon::UdevPaths paths;
  paths.control = s.dir / "control";
  paths.rule_dirs = {s.dir / "etc", s.dir / "lib"};
  for (const auto& d : paths.rule_dirs) fs::create_directories(d);
  std::ofstream(s.dir / "lib" / "60-aoe-nbd.rules") << "KERNEL==\"nbd*\"\n";
  CHECK_FALSE(aoe::daemon::udev_names_devices(paths));  // no udevd
  std::ofstream(paths.control) << "";
  CHECK(aoe::daemon::udev_names_devices(paths));
  fs::create_symlink("/dev/null", s.dir / "etc" / "60-aoe-nbd.rules");  // masked
  CHECK_FALSE(aoe::daemon::udev_names_devices(paths));
  fs::remove(s.dir / "etc" / "60-aoe-nbd.rules");
  std::ofstream(s.dir / "etc" / "60-aoe-nbd.rules") << "";  // masked by an empty file
  CHECK_FALSE(aoe::daemon::udev_names_devices(paths));
  fs::remove(s.dir / "etc" / "60-aoe-nbd.rules");
  fs::remove(s.dir / "lib" / "60-aoe-nbd.rules");
  CHECK_FALSE(aoe::daemon::udev_names_devices(paths));  // not installed
}
