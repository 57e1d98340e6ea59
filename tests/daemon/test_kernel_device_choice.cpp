// --kernel-device auto|ublk|nbd (daemon/kernel_device_choice.h) over a
// fake of the kernel's answer to opening /dev/ublk-control: every branch,
// the exit code and message of a failure, and that nbd and a root's auto
// never ask the kernel.  The real kernel's answers are the VM's
// (test-kernel-ublk, test-kernel-ublk-fallback).
#include <cerrno>
#include <string>
#include <system_error>

#include <catch2/catch.hpp>

#include "daemon/exit_codes.h"
#include "daemon/kernel_device_choice.h"
#include "daemon/ublk_device.h"

using aoe::daemon::KernelDeviceChoice;
using aoe::daemon::KernelDeviceKind;

namespace {

// The kernel's answer, and how often it was asked.
struct FakeUblkProbe {
  std::error_code answer;
  std::string release = "6.15.0-1-amd64";  // a ublk driver with the exit race fixed
  int asked = 0;
  KernelDeviceChoice choose(KernelDeviceKind kind, bool root_storage = false) {
    return aoe::daemon::choose_kernel_device(kind, root_storage, release, "e1.2", [this] {
      ++asked;
      return answer;
    });
  }
};

std::error_code errno_answer(int e) { return {e, std::system_category()}; }

// Debian's 6.12 (bookworm-backports and Debian 13): ublk_drv with the exit race.
KernelDeviceChoice choose_on_debian_6_12(KernelDeviceKind asked) {
  FakeUblkProbe kernel;
  kernel.release = "6.12.95+deb12-amd64";
  return kernel.choose(asked);
}

}  // namespace

TEST_CASE("test-daemon-kernel-device-auto-takes-ublk-where-it-opens") {
  FakeUblkProbe kernel;
  const auto choice = kernel.choose(KernelDeviceKind::automatic);
  CHECK(kernel.asked == 1);
  CHECK(choice.device == KernelDeviceKind::ublk);
  CHECK(choice.exit_code == aoe::exit_ok);
  CHECK_FALSE(choice.warn);
  CHECK(choice.why == "e1.2: --kernel-device auto: ublk, through /dev/ublk-control");
}

TEST_CASE("test-daemon-kernel-device-auto-without-ublk-drv-takes-nbd") {
  FakeUblkProbe kernel{aoe::daemon::ublk_errc::module_missing};  // no node, and modprobe made none
  const auto choice = kernel.choose(KernelDeviceKind::automatic);
  CHECK(choice.device == KernelDeviceKind::nbd);
  CHECK(choice.exit_code == aoe::exit_ok);
  CHECK_FALSE(choice.warn);  // the usual case on a kernel before 6.0: a notice
  // test-kernel-ublk-fallback looks for this line in the guest's log.
  CHECK(choice.why == "e1.2: --kernel-device auto: nbd: the kernel has no ublk driver (module ublk_drv)");
}

TEST_CASE("test-daemon-kernel-device-auto-refused-falls-back-with-a-warning") {
  // Denied, to a process that already holds CAP_NET_RAW: a container's
  // device list or kernel.io_uring_disabled, which leave nbd usable.
  for (int e : {EACCES, EPERM, ENOMEM}) {
    FakeUblkProbe kernel{errno_answer(e)};
    const auto choice = kernel.choose(KernelDeviceKind::automatic);
    CAPTURE(e);
    CHECK(choice.device == KernelDeviceKind::nbd);
    CHECK(choice.exit_code == aoe::exit_ok);
    CHECK(choice.warn);
    CHECK_THAT(choice.why, Catch::Contains("/dev/ublk-control: " + errno_answer(e).message()) &&
                               Catch::Contains("serving it as /dev/nbdN instead (--kernel-device auto)"));
  }
}

TEST_CASE("test-daemon-kernel-device-root-auto-takes-nbd-unasked") {
  FakeUblkProbe kernel;
  const auto choice = kernel.choose(KernelDeviceKind::automatic, true);
  CHECK(kernel.asked == 0);
  CHECK(choice.device == KernelDeviceKind::nbd);
  CHECK_THAT(choice.why, Catch::Contains("as for every root file system"));
  // Asked for ublk, a root's daemon gets it.
  CHECK(kernel.choose(KernelDeviceKind::ublk, true).device == KernelDeviceKind::ublk);
}

TEST_CASE("test-daemon-kernel-device-nbd-never-asks-the-kernel") {
  FakeUblkProbe kernel{aoe::daemon::ublk_errc::module_missing};
  for (bool root : {false, true}) {
    const auto choice = kernel.choose(KernelDeviceKind::nbd, root);
    CHECK(choice.device == KernelDeviceKind::nbd);
    CHECK(choice.exit_code == aoe::exit_ok);
    CHECK(choice.why.empty());
  }
  CHECK(kernel.asked == 0);
}

TEST_CASE("test-daemon-kernel-device-explicit-ublk") {
  SECTION("served where it opens, silently") {
    FakeUblkProbe kernel;
    const auto choice = kernel.choose(KernelDeviceKind::ublk);
    CHECK(choice.device == KernelDeviceKind::ublk);
    CHECK(choice.exit_code == aoe::exit_ok);
    CHECK(choice.why.empty());
  }
  SECTION("no ublk_drv: exit 6 naming the module, never nbd") {
    FakeUblkProbe kernel{aoe::daemon::ublk_errc::module_missing};
    const auto choice = kernel.choose(KernelDeviceKind::ublk);
    CHECK(choice.exit_code == aoe::exit_no_nbd);
    CHECK(choice.why == "cannot serve e1.2 as /dev/ublkbN: /dev/ublk-control: the kernel has no ublk driver "
                        "(module ublk_drv) (load it with `modprobe ublk_drv`, or use --kernel-device nbd)");
  }
  SECTION("denied: exit 4; anything else: exit 1") {
    FakeUblkProbe denied{errno_answer(EACCES)}, not_permitted{errno_answer(EPERM)}, other{errno_answer(ENOMEM)};
    CHECK(denied.choose(KernelDeviceKind::ublk).exit_code == aoe::exit_permission);
    CHECK(not_permitted.choose(KernelDeviceKind::ublk).exit_code == aoe::exit_permission);
    const auto choice = other.choose(KernelDeviceKind::ublk);
    CHECK(choice.exit_code == aoe::exit_failed);
    CHECK_THAT(choice.why, Catch::Contains(errno_answer(ENOMEM).message()));
    CHECK_THAT(choice.why, !Catch::Contains("modprobe"));
  }
}

TEST_CASE("test-daemon-kernel-device-exit-race-by-release") {
  using aoe::daemon::ublk_exit_race;
  CHECK(ublk_exit_race("6.12.95+deb12-amd64"));  // Debian 12 backports, Debian 13
  CHECK(ublk_exit_race("6.9.0"));                // minor compared as a number
  CHECK(ublk_exit_race("6.14.11"));
  CHECK(ublk_exit_race("5.19.0"));
  CHECK_FALSE(ublk_exit_race("6.15.0-1-amd64"));
  CHECK_FALSE(ublk_exit_race("6.17.4"));
  CHECK_FALSE(ublk_exit_race("7.0.0"));
  CHECK_FALSE(ublk_exit_race(""));        // unreadable: no claim either way
  CHECK_FALSE(ublk_exit_race("6"));
  CHECK_FALSE(ublk_exit_race("linux"));
}

TEST_CASE("test-daemon-kernel-device-auto-avoids-the-ublk-exit-race") {
  const auto choice = choose_on_debian_6_12(KernelDeviceKind::automatic);
  CHECK(choice.device == KernelDeviceKind::nbd);
  CHECK(choice.exit_code == aoe::exit_ok);
  CHECK_FALSE(choice.warn);  // a notice: nbd serves as well
  // test-kernel-ublk looks for this in the guest's log.
  CHECK_THAT(choice.why, Catch::Contains("e1.2: --kernel-device auto: nbd: the ublk driver of Linux "
                                           "6.12.95+deb12-amd64 can oops the kernel") &&
                             Catch::Contains("--kernel-device ublk to use it anyway"));
  SECTION("where ublk_drv is missing, that is the reason given") {
    FakeUblkProbe old{aoe::daemon::ublk_errc::module_missing};
    old.release = "6.1.0-57-amd64";
    CHECK_THAT(old.choose(KernelDeviceKind::automatic).why, Catch::Contains("has no ublk driver"));
  }
}

TEST_CASE("test-daemon-kernel-device-explicit-ublk-on-the-exit-race-warns") {
  const auto choice = choose_on_debian_6_12(KernelDeviceKind::ublk);
  CHECK(choice.device == KernelDeviceKind::ublk);
  CHECK(choice.exit_code == aoe::exit_ok);
  CHECK(choice.warn);
  CHECK_THAT(choice.why, Catch::Contains("can oops the kernel when aoe-attach exits under I/O"));
}
