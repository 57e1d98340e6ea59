// The claim module: its pure decisions, identities, and claim/release over
// the fake wire against two target ports that keep a config string each
// (as two vblade processes do, docs/aoe-protocol.md §4.2).
#include "daemon/claim.h"
#include "daemon/exit_codes.h"

#include <stdlib.h>

#include <array>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/support/fake_link.h"
#include "tests/support/run_task.h"

using namespace aoe;
using namespace aoe::daemon;
using namespace aoe::discovery;
using namespace std::chrono_literals;

namespace {

// A target port answering Query Config like vblade's confcmd (docs/aoe-protocol.md §4.2).
class ConfigPort {
 public:
  explicit ConfigPort(test::FakeLink& link) : link_(link) {
    link_.set_receiver([this](std::span<const std::byte> f) { on_frame(f); });
  }
  std::string config;
  int writes = 0;        // set and force-set requests received
  bool refuse_equal = false;  // answer error 4 to a set of the same string (docs/aoe-protocol.md §4.2 allows vblade's leniency)

 private:
  void on_frame(std::span<const std::byte> raw) {
    wire::Frame f;
    if (wire::decode(raw, f) || f.header.response || f.header.command != wire::Command::query_config) return;
    const auto& req = std::get<wire::ConfigArg>(f.arg);
    std::string s(reinterpret_cast<const char*>(req.config_string.data()), req.config_string.size());
    wire::Header h = f.header;
    h.dst = f.header.src;
    h.src = link_.info().mac;
    h.response = true;
    h.shelf = 1;
    h.slot = 2;
    switch (req.ccmd) {
      case wire::ConfigCommand::read: break;
      case wire::ConfigCommand::test_exact:
        if (s != config) return;
        break;
      case wire::ConfigCommand::test_prefix:
        if (!config.starts_with(s)) return;
        break;
      case wire::ConfigCommand::set_if_empty:
        ++writes;
        if (!config.empty() && (config != s || refuse_equal)) {
          h.error = true;
          h.error_code = 4;
        } else {
          config = s;
        }
        break;
      case wire::ConfigCommand::force_set:
        ++writes;
        config = s;
        break;
    }
    wire::ConfigArg arg{.buffer_count = 16, .firmware_version = 0x4019, .sector_count = 2, .aoe_version = 1,
                        .ccmd = req.ccmd, .config_string = std::as_bytes(std::span(config))};
    std::array<std::byte, 1100> out{};
    link_.send(std::span(out.data(), wire::encode(h, arg, out)), {});
  }
  test::FakeLink& link_;
};

// Two local NICs, each wired to one port of e1.2.
struct Lab {
  boost::asio::io_context io;
  test::FakeWire wa{io, test::link_info("a0", 1, 1), test::link_info("t0", 9, 0x10)};
  test::FakeWire wb{io, test::link_info("b0", 2, 2), test::link_info("t1", 10, 0x11)};
  ConfigPort pa{wa.end(1)};
  ConfigPort pb{wb.end(1)};
  Control control{{2, 10ms}};
  Lab() {
    control.attach(wa.end(0));
    control.attach(wb.end(0));
  }
  std::vector<TargetPort> ports() {  // what find_ports() would report now
    return {TargetPort{&wa.end(0), wa.end(1).info().mac, pa.config}, TargetPort{&wb.end(0), wb.end(1).info().mac, pb.config}};
  }
  ClaimResult claim(const std::string& identity, ClaimMode mode = ClaimMode::normal) {
    return test::run_task(io, async_claim(control, ports(), 1, 2, identity, mode));
  }
  ClaimResult release(const std::string& identity) { return test::run_task(io, async_release(control, ports(), 1, 2, identity)); }
};

const std::string us = "aoe-nbd:hosta:1111";
const std::string them = "aoe-nbd:hostb:2222";

}  // namespace

TEST_CASE("test-claim-decide") {
  CHECK(decide_claim("", us, ClaimMode::normal) == ClaimAction::set_if_empty);
  CHECK(decide_claim(us, us, ClaimMode::normal) == ClaimAction::already_ours);
  CHECK(decide_claim(them, us, ClaimMode::normal) == ClaimAction::refuse);
  CHECK(decide_claim("someone's label", us, ClaimMode::normal) == ClaimAction::refuse);
  CHECK(decide_claim(us + "x", us, ClaimMode::normal) == ClaimAction::refuse);  // exact, not prefix
  CHECK(decide_claim(them, us, ClaimMode::force) == ClaimAction::overwrite);
  CHECK(decide_claim("", us, ClaimMode::force) == ClaimAction::overwrite);
  CHECK(decide_claim(us, us, ClaimMode::force) == ClaimAction::already_ours);
}

TEST_CASE("test-claim-same-host-after-the-switch-to-the-root") {
  // The initramfs claimed as "(none)" without a machine-id; the root names the host.
  const std::string initramfs = "aoe-nbd:(none)::5254001234ab";
  const std::string root = "aoe-nbd:hosta:0123abcd:5254001234ab";
  const std::string clone = "aoe-nbd:(none)::5254001234ac";
  CHECK(same_claimant(initramfs, root));
  CHECK(decide_claim(initramfs, root, ClaimMode::normal) == ClaimAction::already_ours);
  CHECK(decide_release(initramfs, root) == ReleaseAction::clear);
  CHECK_FALSE(same_claimant(initramfs, clone));
  CHECK(decide_claim(initramfs, clone, ClaimMode::normal) == ClaimAction::refuse);
  CHECK(decide_release(initramfs, clone) == ReleaseAction::not_ours);
  // Not identities of ours, or no MAC to go by: only equal strings match.
  CHECK_FALSE(same_claimant("label:5254001234ab", "other:5254001234ab"));
  CHECK_FALSE(same_claimant("aoe-nbd:a::000000000000", "aoe-nbd:b::000000000000"));
  CHECK_FALSE(same_claimant("aoe-nbd:hosta:1111", "aoe-nbd:hostb:1111"));
  CHECK_FALSE(same_claimant("aoe-nbd:5254001234ab", "aoe-nbd:x:5254001234ab"));
}

TEST_CASE("test-claim-decide-release") {
  CHECK(decide_release(us, us) == ReleaseAction::clear);
  CHECK(decide_release("", us) == ReleaseAction::already_clear);
  CHECK(decide_release(them, us) == ReleaseAction::not_ours);
}

TEST_CASE("test-claim-identity") {
  CHECK(make_identity("hosta", "0123abcd", {0x52, 0x54, 0, 0x12, 0x34, 0xab}) == "aoe-nbd:hosta:0123abcd:5254001234ab");
  CHECK(identity_host(make_identity("(none)", "", {})) == "(none)");
  CHECK(identity_host("aoe-nbd:hosta:0123abcd") == "hosta");
  CHECK(identity_host("aoe-nbd:hosta:") == "hosta");
  CHECK(!identity_host("aoe-nbd::x"));
  CHECK(!identity_host("PREFIX SERIAL NAME"));

  ::setenv("AOE_NBD_IDENTITY", "test-identity", 1);
  CHECK(host_identity({}) == "test-identity");
  ::setenv("AOE_NBD_IDENTITY", "", 1);  // empty: not an override
  std::string real = host_identity({});
  ::unsetenv("AOE_NBD_IDENTITY");
  CHECK(real.starts_with("aoe-nbd:"));
  CHECK(identity_host(real).has_value());
  CHECK(real == host_identity({}));
}

TEST_CASE("test-claim-identity-tells-hosts-apart") {
  // Two hosts with one host name and one machine-id (an initramfs, a cloned
  // image) differ by their NICs; fake links have no permanent address, so
  // their current one counts.  The lowest MAC is chosen, whatever the order.
  ::unsetenv("AOE_NBD_IDENTITY");
  boost::asio::io_context io;
  test::FakeWire a(io, test::link_info("nosuch-a0", 1, 1), test::link_info("t0", 9, 0x10));
  test::FakeWire b(io, test::link_info("nosuch-b0", 2, 2), test::link_info("t1", 10, 0x11));
  const std::string host_a = host_identity({&a.end(0)});
  const std::string host_b = host_identity({&b.end(0)});
  CHECK(host_a != host_b);
  CHECK(host_a.ends_with(":020000000001"));
  CHECK(host_identity({&b.end(0), &a.end(0)}) == host_a);
  CHECK(host_identity({&a.end(0), &b.end(0)}) == host_a);
}

TEST_CASE("test-claim-held-message") {
  boost::asio::io_context io;
  test::FakeWire w(io, test::link_info("eth0", 1, 1), test::link_info("t0", 9, 0x10));
  TargetPort port{&w.end(0), {2, 0, 0, 0, 0, 0x10}, them};
  std::string m = held_message("e1.2", them, port);
  CHECK_THAT(m, Catch::Contains("e1.2 is claimed by \"aoe-nbd:hostb:2222\" (host hostb)"));
  CHECK_THAT(m, Catch::Contains("02:00:00:00:00:10 via eth0"));
  CHECK_THAT(m, Catch::Contains("--force-claim"));
  CHECK_THAT(held_message("e1.2", "label", port), Catch::Contains("claimed by \"label\" (config"));
}

TEST_CASE("test-claim-empty-target") {
  Lab lab;
  auto r = lab.claim(us);
  CHECK(r.ok());
  CHECK(lab.pa.config == us);
  CHECK(lab.pb.config == us);
  // Re-attach after a crash: our own identity is accepted, nothing written.
  int writes = lab.pa.writes + lab.pb.writes;
  CHECK(lab.claim(us).ok());
  CHECK(lab.pa.writes + lab.pb.writes == writes);
}

TEST_CASE("test-claim-refused-and-undone") {
  Lab lab;
  lab.pb.config = them;  // the second port is held: the first must not stay claimed
  auto r = lab.claim(us);
  CHECK(r.status == ClaimResult::Status::held);
  CHECK(r.holder == them);
  CHECK_THAT(r.message, Catch::Contains("hostb"));
  CHECK(lab.pa.config.empty());
  CHECK(lab.pb.config == them);
}

TEST_CASE("test-claim-race-lost") {
  Lab lab;
  auto ports = lab.ports();  // read while empty ...
  lab.pa.config = them;      // ... then another host sets it first
  auto r = test::run_task(lab.io, async_claim(lab.control, ports, 1, 2, us, ClaimMode::normal));
  CHECK(r.status == ClaimResult::Status::held);
  CHECK(r.holder == them);
  CHECK(lab.pa.config == them);
  CHECK(lab.pb.config.empty());
}

TEST_CASE("test-claim-equal-set-refused") {
  // A target stricter than vblade refuses a set equal to its string: the
  // re-read finds our identity, which is a successful claim.
  Lab lab;
  auto ports = lab.ports();
  lab.pa.config = us;
  lab.pa.refuse_equal = true;
  CHECK(test::run_task(lab.io, async_claim(lab.control, ports, 1, 2, us, ClaimMode::normal)).ok());
  CHECK(lab.pa.config == us);
  CHECK(lab.pb.config == us);
}

TEST_CASE("test-claim-force") {
  Lab lab;
  lab.pa.config = them;
  auto r = lab.claim(us, ClaimMode::force);
  CHECK(r.ok());
  CHECK(lab.pa.config == us);
  CHECK(lab.pb.config == us);
}

TEST_CASE("test-claim-release") {
  Lab lab;
  REQUIRE(lab.claim(us).ok());
  CHECK(lab.release(us).ok());
  CHECK(lab.pa.config.empty());
  CHECK(lab.pb.config.empty());
  CHECK(lab.release(us).ok());  // nothing left to release

  // Taken over meanwhile on one port: that one is left alone.
  REQUIRE(lab.claim(us).ok());
  lab.pb.config = them;
  auto check_left = [&](const ClaimResult& result) {
    CHECK(result.status == ClaimResult::Status::held);
    CHECK(result.holder == them);
    CHECK(lab.pa.config.empty());
    CHECK(lab.pb.config == them);
  };
  check_left(lab.release(us));

  // Ports read while ours, then forced by another host before the release:
  // the string read again right before clearing wins.
  lab.pb.config = us;
  REQUIRE(lab.claim(us).ok());
  auto ports = lab.ports();
  lab.pb.config = them;
  check_left(test::run_task(lab.io, async_release(lab.control, ports, 1, 2, us)));
}

TEST_CASE("test-claim-first-not-ours") {
  Lab lab;
  lab.pa.config = us;
  lab.pb.config = us;
  CHECK(first_not_ours(lab.ports(), us) == nullptr);
  lab.pb.config = them;
  auto ports = lab.ports();
  REQUIRE(first_not_ours(ports, us) == &ports[1]);
  lab.pb.config = "";
  ports = lab.ports();
  CHECK(first_not_ours(ports, us) == &ports[1]);
}

TEST_CASE("test-claim-errors") {
  Lab lab;
  // No port answered: not found (aoe-attach --claim and aoe-cfg --claim exit 5).
  auto none = test::run_task(lab.io, async_claim(lab.control, {}, 1, 2, us, ClaimMode::normal));
  CHECK(none.status == ClaimResult::Status::not_found);
  CHECK(claim_exit_code(none) == aoe::exit_not_found);
  CHECK(lab.claim("").status == ClaimResult::Status::error);
  CHECK(lab.claim(std::string(1025, 'x')).status == ClaimResult::Status::error);
  // The second port is gone: an error, and the first port's claim is undone.
  lab.wb.end(1).up = false;
  auto r = lab.claim(us);
  CHECK(r.status == ClaimResult::Status::error);
  CHECK(claim_exit_code(r) == aoe::exit_failed);
  CHECK_THAT(r.message, Catch::Contains("02:00:00:00:00:11 via b0"));
  CHECK(lab.pa.config.empty());
}
