// The last step toward serving a kernel device (daemon/ready_link.h), as
// ublk and nbd serving take it, over a scratch /dev/etherd and a
// NOTIFY_SOCKET of the test: READY=1 only once the link is there, nothing
// ready for a serving that stopped meanwhile, a link that failed still
// serves, and detach removes only our own link.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include "daemon/etherd_link.h"
#include "daemon/ready_link.h"
#include "tests/daemon/notify_manager.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using aoe::daemon::EtherdLink;
using aoe::daemon::ReadyLink;

namespace {

// NOTIFY_SOCKET for the Readiness made after it.
struct NotifySocketEnv {
  explicit NotifySocketEnv(const std::string& address) { ::setenv("NOTIFY_SOCKET", address.c_str(), 1); }
  ~NotifySocketEnv() { ::unsetenv("NOTIFY_SOCKET"); }
};

// One ReadyLink between an io_context and a kernel thread, as a serving has.
struct ReadyLinkLab {
  aoe::test::TempDir dir{"aoe-ready-link"};
  aoe::test::Manager manager{(dir.path / "notify").string()};
  NotifySocketEnv env{manager.address};
  fs::path etherd = dir.path / "etherd";
  boost::asio::io_context io;
  boost::asio::thread_pool kernel{1};
  aoe::daemon::Served served;
  aoe::daemon::Readiness readiness = aoe::daemon::Readiness::foreground();
  ReadyLink link{io, kernel, readiness, served, "e1.2", etherd};
  bool stopping = false;
  int then_calls = 0;

  // Runs the step for /dev/ublkb3 with `make` as the link's maker.
  void run(std::function<EtherdLink()> make) {
    link.make("/dev/ublkb3", std::move(make), [this] { return stopping; }, [this] { ++then_calls; });
    kernel.join();  // the link made: its completion waits in io
    io.run();
  }
  EtherdLink link_it_here() {
    const auto ec = aoe::daemon::create_etherd_link_to("e1.2", "/dev/ublkb3", etherd);
    return {!ec, ec};
  }
  fs::path link_path() const { return etherd / "e1.2"; }
};

}  // namespace

TEST_CASE("test-daemon-ready-link-ready-after-the-link") {
  ReadyLinkLab lab;
  std::string before_link;
  bool ready_before_link = true;
  lab.run([&] {
    before_link = lab.manager.receive();
    ready_before_link = lab.served.ready;
    return lab.link_it_here();
  });
  CHECK(before_link == "STATUS=attached e1.2 as /dev/ublkb3; linking " + lab.etherd.string() + "/e1.2");
  CHECK_FALSE(ready_before_link);
  CHECK(lab.manager.receive() == "READY=1\nSTATUS=serving /dev/ublkb3");
  CHECK(lab.served.ready);
  CHECK(lab.then_calls == 1);
  CHECK(fs::read_symlink(lab.link_path()) == "/dev/ublkb3");
  lab.link.detached();
  CHECK_FALSE(fs::exists(fs::symlink_status(lab.link_path())));
}

TEST_CASE("test-daemon-ready-link-stopped-meanwhile-is-never-ready") {
  ReadyLinkLab lab;
  lab.run([&] {
    lab.stopping = true;  // a signal while the link was made
    return lab.link_it_here();
  });
  lab.manager.receive();  // STATUS
  CHECK(lab.manager.receive().empty());
  CHECK_FALSE(lab.served.ready);
  CHECK(lab.then_calls == 0);
  lab.link.detached();  // ours all the same: removed
  CHECK_FALSE(fs::exists(fs::symlink_status(lab.link_path())));
}

TEST_CASE("test-daemon-ready-link-not-ours-stays") {
  ReadyLinkLab lab;
  SECTION("udev's link is udev's to remove") {
    lab.run([&] {
      lab.link_it_here();  // as udev would, relative or not
      return EtherdLink{};
    });
    CHECK(lab.served.ready);
    lab.link.detached();
    CHECK(fs::is_symlink(fs::symlink_status(lab.link_path())));
  }
  SECTION("a link that cannot be made still serves") {
    lab.run([] { return EtherdLink{false, std::make_error_code(std::errc::read_only_file_system)}; });
    CHECK(lab.served.ready);
    CHECK(lab.then_calls == 1);
    lab.link.detached();
  }
  SECTION("ours, since pointed elsewhere, stays") {
    lab.run([&] { return lab.link_it_here(); });
    REQUIRE_FALSE(aoe::daemon::create_etherd_link_to("e1.2", "/dev/ublkb4", lab.etherd));
    lab.link.detached();
    CHECK(fs::read_symlink(lab.link_path()) == "/dev/ublkb4");
  }
}
