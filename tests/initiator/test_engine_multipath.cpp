// Multipath: failed paths, link events, path refresh, jumbo fallback.
#include "initiator/engine.h"

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

EngineOptions quick_probes() {
  auto o = fast_options();
  o.probe_interval = 30ms;
  return o;
}

// Writes `data` again and again until path `p`, which eats every frame, is
// failed: a dead path gets frames only while the scheduler still counts on
// it, and it fails after episodes_to_fail loss episodes.  Each write must
// succeed with its data on the disk.
void write_until_failed(EngineLab& lab, unsigned p, std::span<const std::byte> data) {
  for (int i = 0; i < 100 && !lab.engine->path_status()[p].failed; ++i) {
    REQUIRE_FALSE(lab.write(0, data));
    REQUIRE(std::equal(data.begin(), data.end(), lab.target(0).disk.begin()));
  }
  REQUIRE(lab.engine->path_status()[p].failed);
}

}  // namespace

TEST_CASE("test-engine-dead-path-fails-and-frames-move", "[engine][multipath]") {
  EngineLab lab({}, quick_probes(), 1500, 2);
  // Path 1 silently eats everything: its frames must move to path 0.
  lab.wire(1).faults_from(0).drop_if = [](const FrameBytes&) { return true; };
  write_until_failed(lab, 1, pattern(512 * 1024, 21));
  CHECK_FALSE(lab.engine->path_status()[0].failed);
  CHECK(lab.engine->path_status()[1].failures == 1);
  // The path heals: probes find it and it carries frames again.
  lab.wire(1).faults_from(0).drop_if = nullptr;
  REQUIRE(lab.run_until([&] { return !lab.engine->path_status()[1].failed; }, 5s));
  auto before = lab.wire(1).sent_from(0).size();
  REQUIRE_FALSE(lab.write(0, pattern(256 * 1024, 22)));
  CHECK(lab.wire(1).sent_from(0).size() > before + 16);
}

TEST_CASE("test-engine-link-down-moves-frames-at-once", "[engine][multipath]") {
  EngineLab lab({}, calm_options(), 1500, 2);
  auto data = pattern(1 << 20, 23);
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { done = ec; });
  REQUIRE(lab.run_until([&] { return lab.wire(0).sent_from(0).size() > 20; }));
  // NIC 0 goes down mid-transfer: its in-flight frames are resent on NIC 1
  // right away, well before the 400 ms RTO would have noticed.
  lab.wire(0).end(0).up = false;
  lab.engine->set_link_state(lab.wire(0).end(0), false);
  REQUIRE_FALSE(lab.wait(done));
  CHECK(lab.engine->path_status()[0].failed);
  CHECK(lab.engine->path_status()[0].timeouts == 0);  // moved before any RTO, not by it
  // Back up: probed and restored.
  lab.wire(0).end(0).up = true;
  lab.engine->set_link_state(lab.wire(0).end(0), true);
  REQUIRE(lab.run_until([&] { return !lab.engine->path_status()[0].failed; }, 5s));
}

TEST_CASE("test-engine-all-links-down-fails-at-deadline", "[engine][multipath]") {
  auto o = fast_options();
  o.deadline = 300ms;
  EngineLab lab({}, o);
  lab.wire().end(0).up = false;
  lab.engine->set_link_state(lab.wire().end(0), false);
  std::vector<std::byte> buf(4096);
  std::optional<std::error_code> done;
  lab.engine->async_read(0, buf, [&](std::error_code ec) { done = ec; });
  // Nothing to send on: the request waits, 1 ms short of the deadline...
  lab.advance(299ms);
  CHECK_FALSE(done.has_value());
  // ...and fails within two ticks (the stall is seen at the first): it never hangs.
  REQUIRE(lab.run_until([&] { return done.has_value(); }, 101ms));
  CHECK(*done == errc::target_down);
  CHECK(lab.wire().sent_from(0).empty());
}

TEST_CASE("test-engine-update-paths-adds-new-path", "[engine][multipath]") {
  EngineLab lab({}, calm_options(), 1500, 2);
  // Start the engine over port 0 only, then let rediscovery report port 1.
  TargetInfo info = lab.engine->target();
  PathInfo second = info.paths[1];
  info.paths.pop_back();
  lab.engine = std::make_unique<Engine>(lab.io, info, lab.on_clock(calm_options()));
  REQUIRE(lab.engine->path_status().size() == 1);
  lab.engine->update_paths({info.paths[0], second});
  REQUIRE(lab.engine->path_status().size() == 2);
  REQUIRE_FALSE(lab.write(0, pattern(128 * 1024, 24)));
  CHECK(ata_frames(lab.wire(1).sent_from(0)).size() >= 32);
}

TEST_CASE("test-engine-jumbo-path-falls-back-to-small-frames", "[engine][multipath]") {
  EngineLab lab({}, quick_probes(), 9000);
  REQUIRE(lab.engine->payload_sectors() == 17);
  // A hop in between passes only standard frames (1514 bytes with header).
  lab.wire().faults_from(0).max_frame = 1514;
  lab.wire().faults_from(1).max_frame = 1514;
  auto data = pattern(256 * 1024, 25);
  REQUIRE_FALSE(lab.write(0, data));
  CHECK(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
  std::vector<std::byte> back(data.size());
  REQUIRE_FALSE(lab.read(0, back));
  CHECK(back == data);
  auto st = lab.engine->path_status()[0];
  CHECK(st.payload_bytes <= 1024 + 512);
  CHECK(lab.engine->payload_sectors() * 512 <= 1478);
  // Its probes at that size are answered: restored (probes_to_restore rounds).
  CHECK(lab.run_until([&] { return !lab.engine->path_status()[0].failed; }, 1s));
  CHECK(lab.engine->path_status()[0].payload_bytes == st.payload_bytes);
}

TEST_CASE("test-engine-jumbo-path-grows-back-when-the-hop-is-fixed", "[engine][multipath]") {
  EngineLab lab({}, quick_probes(), 9000);
  lab.wire().faults_from(0).max_frame = lab.wire().faults_from(1).max_frame = 1514;
  REQUIRE_FALSE(lab.write(0, pattern(64 * 1024, 27)));
  REQUIRE(lab.engine->path_status()[0].payload_bytes < 17 * 512);
  // Restored at the smaller size (probes_to_restore rounds answered).
  REQUIRE(lab.run_until([&] { return !lab.engine->path_status()[0].failed; }, 5s));
  // The switch is replaced; the next rediscovery tries full frames again.
  lab.wire().faults_from(0).max_frame = lab.wire().faults_from(1).max_frame = SIZE_MAX;
  lab.engine->update_paths(lab.engine->target().paths);
  REQUIRE(lab.run_until([&] { return lab.engine->path_status()[0].payload_bytes == 17 * 512; }, 5s));
  CHECK(lab.engine->payload_sectors() == 17);
  auto data = pattern(64 * 1024, 28);
  auto before = lab.wire().sent_from(0).size();
  REQUIRE_FALSE(lab.write(0, data));
  CHECK(lab.wire().sent_from(0).size() - before == (128 + 16) / 17);  // 128 sectors in 17-sector frames
  CHECK(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
}

TEST_CASE("test-engine-each-path-cuts-frames-for-its-own-payload", "[engine][multipath]") {
  EngineLab lab({}, calm_options(), 9000, 2);
  // Rediscovery says port 1 now takes 2 sectors per command (a new Sector
  // Count); port 0 keeps its jumbo frames.
  auto paths = lab.engine->target().paths;
  paths[1].max_sectors = 2;
  lab.engine->update_paths(paths);
  CHECK(lab.engine->path_status()[0].payload_bytes == 17 * 512);
  CHECK(lab.engine->path_status()[1].payload_bytes == 2 * 512);
  auto data = pattern(512 * 1024, 29);
  REQUIRE_FALSE(lab.write(0, data));
  CHECK(std::equal(data.begin(), data.end(), lab.target(0).disk.begin()));
  auto big = ata_frames(lab.wire(0).sent_from(0)), small = ata_frames(lab.wire(1).sent_from(0));
  REQUIRE_FALSE(big.empty());
  REQUIRE_FALSE(small.empty());
  CHECK(std::get<wire::AtaArg>(big.front().arg).sector_count == 17);
  for (const auto& f : small) CHECK(std::get<wire::AtaArg>(f.arg).sector_count <= 2);
}

TEST_CASE("test-engine-failed-path-gone-from-rediscovery-is-retired", "[engine][multipath]") {
  EngineLab lab({}, quick_probes(), 1500, 2);
  lab.wire(1).faults_from(0).drop_if = [](const FrameBytes&) { return true; };
  write_until_failed(lab, 1, pattern(256 * 1024, 31));
  auto paths = lab.engine->target().paths;
  // One rediscovery misses port 1 (its answer may just have been lost): it
  // is still probed.
  lab.engine->update_paths({paths[0]});
  REQUIRE(lab.engine->path_status().size() == 2);
  auto before = lab.wire(1).sent_from(0).size();
  lab.advance(200ms);
  CHECK(lab.wire(1).sent_from(0).size() > before);
  // The next one misses it too: retired, no longer probed.
  lab.engine->update_paths({paths[0]});
  REQUIRE(lab.engine->path_status().size() == 1);
  lab.advance(100ms);
  auto probes = lab.wire(1).sent_from(0).size();
  lab.advance(200ms);
  CHECK(lab.wire(1).sent_from(0).size() == probes);
  // It answers discovery again: back, probed, and restored.
  lab.wire(1).faults_from(0).drop_if = nullptr;
  lab.engine->update_paths(paths);
  REQUIRE(lab.engine->path_status().size() == 2);
  REQUIRE(lab.run_until([&] { return !lab.engine->path_status()[1].failed; }, 5s));
}

TEST_CASE("test-engine-path-missed-by-one-rediscovery-is-restored-by-its-probe", "[engine][multipath]") {
  // A NIC just back up: the Query Config answer through it is lost, its
  // probe a moment later gets through.  The path must come back at once,
  // not after the next rediscovery interval.
  EngineLab lab({}, quick_probes(), 1500, 2);
  auto paths = lab.engine->target().paths;
  for (int round = 0; round < 2; ++round) {
    lab.wire(1).faults_from(0).drop_if = [](const FrameBytes&) { return true; };
    write_until_failed(lab, 1, pattern(256 * 1024, 34));
    lab.engine->update_paths({paths[0]});
    REQUIRE(lab.engine->path_status().size() == 2);  // not retired
    lab.wire(1).faults_from(0).drop_if = nullptr;
    // Restored by its probe; a second miss later, after the path failed
    // anew, counts from zero.
    REQUIRE(lab.run_until([&] { return !lab.engine->path_status()[1].failed; }, 5s));
  }
}

TEST_CASE("test-engine-quarantined-port-carries-nothing", "[engine][multipath]") {
  auto o = quick_probes();
  o.deadline = 400ms;
  EngineLab lab({}, o, 1500, 2);
  // Rediscovery found port 1 answering as another disk.
  lab.engine->quarantine(mac(0x11));
  REQUIRE(lab.engine->path_status().size() == 1);
  auto data = pattern(256 * 1024, 32);
  REQUIRE_FALSE(lab.write(0, data));
  CHECK(std::equal(data.begin(), data.end(), lab.target(0).disk.begin()));
  CHECK(lab.wire(1).sent_from(0).empty());
  // Not even when it is all that is left: no probe, no last-resort I/O.
  lab.wire(0).end(0).up = false;
  lab.engine->set_link_state(lab.wire(0).end(0), false);
  std::vector<std::byte> buf(4096);
  CHECK(lab.read(0, buf) == errc::target_down);
  CHECK(lab.wire(1).sent_from(0).empty());
  // Listed again by a rediscovery (its IDENTIFY agreed): back in use.
  lab.wire(0).end(0).up = true;
  lab.engine->set_link_state(lab.wire(0).end(0), true);
  lab.engine->target_answered();
  lab.engine->update_paths(lab.engine->target().paths);
  REQUIRE(lab.run_until([&] { return lab.engine->path_status().size() == 2 && !lab.engine->path_status()[1].failed; }, 5s));
  REQUIRE_FALSE(lab.write(0, pattern(256 * 1024, 33)));
  CHECK_FALSE(lab.wire(1).sent_from(0).empty());
}

TEST_CASE("test-engine-shared-disk-two-ports-data-exact", "[engine][multipath]") {
  EngineLab lab({}, fast_options(), 1500, 2);
  lab.wire(0).faults_from(0).loss = 0.03;
  lab.wire(1).faults_from(1).loss = 0.03;
  auto data = pattern(1 << 20, 26);
  REQUIRE_FALSE(lab.write(0, data));
  std::vector<std::byte> back(data.size());
  REQUIRE_FALSE(lab.read(0, back));
  CHECK(back == data);
  CHECK(std::equal(data.begin(), data.end(), lab.target(0).disk.begin()));
}
