// Path health alone (initiator/path_health.h): no engine and no frames.
// The probes it asks for and the frames it moves are recorded; their
// outcomes are reported back by hand, and time is a ManualClock.
#include "initiator/path_health.h"

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/support/fake_link.h"
#include "tests/support/manual_clock.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

struct HealthLab {
  boost::asio::io_context context;
  ManualClock clock{context};
  FakeWire wire0{context, LinkInfo{"eth0", 1, mac(0), 9000}, LinkInfo{"t0", 10, mac(0x10), 9000}, 1, &clock};
  FakeWire wire1{context, LinkInfo{"eth1", 2, mac(1), 9000}, LinkInfo{"t1", 11, mac(0x11), 9000}, 2, &clock};
  TargetInfo target;
  std::vector<std::pair<unsigned, unsigned>> probes;  // (path, sectors) asked for
  std::vector<unsigned> moved;                         // paths whose frames were moved
  bool io = true;                                      // frames in flight
  std::unique_ptr<PathHealth> health;

  explicit HealthLab(PathOptions o = {}) {
    target.shelf = 1;
    target.slot = 2;
    target.paths = {info(0), info(1)};
    health = std::make_unique<PathHealth>(target, o, clock,
                                          PathHealth::Actions{
                                              .send_probe = [this](unsigned p, unsigned s) { probes.emplace_back(p, s); },
                                              .move_frames = [this](unsigned p) { moved.push_back(p); },
                                              .io_in_flight = [this] { return io; }});
    health->update(target.paths);
  }
  PathInfo info(unsigned i, unsigned max_sectors = 17) {
    PathInfo info;
    info.link = &(i ? wire1 : wire0).end(0);
    info.target_mac = mac(std::uint8_t(0x10 + i));
    info.buffer_count = 16;
    info.max_sectors = max_sectors;
    return info;
  }
  Path& path(unsigned p) { return (*health)[p]; }
  void fail(unsigned p) {
    for (int i = 0; i < 3; ++i) health->on_loss_episode(p);
  }
  // Answers every probe asked for so far: the full-size ones if `full`, the small ones if `small`.
  void answer_probes(bool full, bool small) {
    auto asked = std::exchange(probes, {});
    for (auto [p, sectors] : asked) {
      bool got = sectors == 1 ? small : full;
      health->on_probe_done(p, sectors, got ? std::error_code{} : make_error_code(errc::timed_out));
    }
  }
};

}  // namespace

TEST_CASE("test-path-health-silent-episodes-fail-a-path-and-move-its-frames", "[path-health]") {
  HealthLab lab;
  CHECK(lab.health->payload_sectors() == 17);
  lab.health->on_loss_episode(1);
  lab.health->on_loss_episode(1);
  lab.health->on_answer(1);  // late, but alive: the count starts again
  lab.health->on_loss_episode(1);
  lab.health->on_loss_episode(1);
  CHECK_FALSE(lab.path(1).failed);
  CHECK(lab.moved.empty());
  lab.health->on_loss_episode(1);
  CHECK(lab.path(1).failed);
  CHECK(lab.moved == std::vector<unsigned>{1});
  CHECK(lab.path(1).stats.failures == 1);
  CHECK(lab.health->probing());
  CHECK(lab.path(1).rtt.backoff() == 5);  // each episode doubled its RTO
}

TEST_CASE("test-path-health-failed-path-probed-and-restored-after-rounds", "[path-health]") {
  PathOptions o;
  o.probe_interval = 500ms;
  o.probes_to_restore = 2;
  HealthLab lab(o);
  lab.fail(1);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes.empty());  // not yet: the first probe is an interval later
  lab.clock.advance(500ms);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes == std::vector<std::pair<unsigned, unsigned>>{{1, 17}, {1, 1}});  // full size and one sector
  lab.answer_probes(true, true);
  CHECK(lab.path(1).failed);  // one round is not enough
  lab.clock.advance(499ms);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes.empty());
  lab.clock.advance(1ms);
  lab.health->probe_due(lab.clock.now());
  lab.answer_probes(true, true);
  CHECK_FALSE(lab.path(1).failed);
  CHECK_FALSE(lab.health->probing());
}

TEST_CASE("test-path-health-flapping-path-probed-less-often", "[path-health]") {
  PathOptions o;
  o.probe_interval = 100ms;
  o.probes_to_restore = 1;
  HealthLab lab(o);
  lab.io = false;  // no traffic: the working path 1 is not refreshed, only path 0 probed
  auto restore_after = [&](Duration wait) {
    lab.clock.advance(wait - 1ms);
    lab.health->probe_due(lab.clock.now());
    CHECK(lab.probes.empty());
    lab.clock.advance(1ms);
    lab.health->probe_due(lab.clock.now());
    REQUIRE_FALSE(lab.probes.empty());
    lab.answer_probes(true, true);
    REQUIRE_FALSE(lab.path(0).failed);
  };
  lab.fail(0);
  restore_after(100ms);
  lab.fail(0);  // again within flap_window of its restoration: twice the interval
  restore_after(200ms);
  lab.fail(0);
  restore_after(400ms);
  lab.clock.advance(31s);  // past flap_window: back to the interval
  lab.fail(0);
  restore_after(100ms);
}

TEST_CASE("test-path-health-small-hop-halves-the-payload", "[path-health]") {
  HealthLab lab;
  lab.fail(0);
  lab.clock.advance(500ms);
  lab.health->probe_due(lab.clock.now());
  lab.answer_probes(false, true);  // only the one-sector probe gets through
  CHECK(lab.path(0).payload_sectors == 8);
  CHECK(lab.health->payload_sectors() == 17);  // path 1 works at full size: new frames use the working paths
  lab.health->probe_due(lab.clock.now());  // the new size at once
  CHECK(lab.probes == std::vector<std::pair<unsigned, unsigned>>{{0, 8}, {0, 1}});
  lab.answer_probes(false, true);
  CHECK(lab.path(0).payload_sectors == 4);
  // Rediscovery says the path should carry 17 again: a full-size probe, and
  // the payload grows back when it is answered (once the path works).
  lab.health->probe_due(lab.clock.now());
  lab.answer_probes(true, true);
  lab.clock.advance(500ms);
  lab.health->probe_due(lab.clock.now());
  lab.answer_probes(true, true);
  REQUIRE_FALSE(lab.path(0).failed);
  CHECK(lab.path(0).payload_sectors == 4);
  lab.health->update(lab.target.paths);
  CHECK(lab.probes == std::vector<std::pair<unsigned, unsigned>>{{0, 17}});
  lab.answer_probes(true, true);
  CHECK(lab.path(0).payload_sectors == 17);
}

TEST_CASE("test-path-health-failed-path-missing-from-rediscovery-retired", "[path-health]") {
  HealthLab lab;  // misses_to_retire = 2
  lab.fail(1);
  lab.health->update({lab.info(0)});
  CHECK_FALSE(lab.path(1).retired);
  lab.health->update({lab.info(0)});
  CHECK(lab.path(1).retired);
  CHECK(lab.health->status().size() == 1);
  CHECK_FALSE(lab.health->probing());
  lab.clock.advance(10s);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes.empty());
  // Listed again: probed at once.
  lab.health->update(lab.target.paths);
  CHECK(lab.health->status().size() == 2);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes.size() == 2);
  // A working path missing from rediscovery stays: only failed ones retire.
  lab.health->update({lab.info(1)});
  lab.health->update({lab.info(1)});
  CHECK_FALSE(lab.path(0).retired);
}

TEST_CASE("test-path-health-link-down-fails-at-once-and-up-probes", "[path-health]") {
  HealthLab lab;
  lab.health->set_link_state(lab.wire0.end(0), false);
  CHECK(lab.path(0).failed);
  CHECK(lab.moved == std::vector<unsigned>{0});
  CHECK_FALSE(lab.health->probing());  // nothing to probe on a NIC that is down
  lab.clock.advance(10s);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes.empty());
  lab.health->set_link_state(lab.wire0.end(0), true);
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes == std::vector<std::pair<unsigned, unsigned>>{{0, 17}, {0, 1}});
}

TEST_CASE("test-path-health-retired-port-and-announcements", "[path-health]") {
  HealthLab lab;
  CHECK(lab.health->serves(mac(0x11)));
  lab.health->retire_port(mac(0x11), "answers as another disk");
  CHECK(lab.moved == std::vector<unsigned>{1});
  CHECK_FALSE(lab.health->serves(mac(0x11)));
  CHECK(lab.health->status().size() == 1);
  CHECK(lab.health->find(lab.wire1.end(0), mac(0x11)) == 1);  // still known, for rediscovery
}

TEST_CASE("test-path-health-idle-path-refreshed-only-while-io-runs", "[path-health]") {
  HealthLab lab;  // rtt_refresh_interval 1 s
  lab.health->probe_due(lab.clock.now());  // the first look starts the interval
  lab.clock.advance(1s);
  lab.io = false;
  lab.health->probe_due(lab.clock.now());  // idle, but nothing runs at all
  lab.io = true;
  CHECK(lab.probes.empty());
  lab.clock.advance(1s);
  ++lab.path(0).sequence;  // path 0 carried a frame; path 1 did not
  lab.health->probe_due(lab.clock.now());
  CHECK(lab.probes == std::vector<std::pair<unsigned, unsigned>>{{1, 17}});
  lab.clock.advance(3ms);
  lab.answer_probes(true, true);
  CHECK(lab.path(1).rtt.srtt() == 3ms);
}

TEST_CASE("test-path-health-links-told-the-frames-in-flight", "[path-health]") {
  // Each link learns the sum of its paths' window caps (PacketLink sizes
  // its receive ring to it): Buffer Count 16 on each of eth0 and eth1.
  HealthLab lab;
  FakeLink& eth0 = lab.wire0.end(0);
  FakeLink& eth1 = lab.wire1.end(0);
  CHECK(eth0.in_flight == std::vector<unsigned>{16});
  CHECK(eth1.in_flight == std::vector<unsigned>{16});
  // A second port of the target answers on eth0, with Buffer Count 64,
  // and eth1's port now says 4: eth0 carries 16 + 64, eth1 4.
  PathInfo second = lab.info(0);
  second.target_mac = mac(0x20);
  second.buffer_count = 64;
  PathInfo fewer = lab.info(1);
  fewer.buffer_count = 4;
  lab.health->update({lab.info(0), second, fewer});
  CHECK(eth0.in_flight.back() == 80);
  CHECK(eth1.in_flight.back() == 4);
  // The window cap bounds what a Buffer Count asks for (PathOptions::max_window).
  second.buffer_count = 1000;
  lab.health->update({lab.info(0), second, fewer});
  CHECK(eth0.in_flight.back() == 16 + 128);
}
