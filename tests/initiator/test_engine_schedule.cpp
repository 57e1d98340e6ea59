// Multipath scheduling: frames go to the path expected to answer first, a
// slow path carries only what the fast one cannot, and a slow but steady
// path is never failed.  Fake wires with a fixed latency or jitter, on
// simulated time, so the counts are exact: a real netem peer is
// tests/integration/test-multipath-slow-path.sh.
#include "initiator/engine.h"

#include <catch2/catch.hpp>

#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

// `count` writes of `size` bytes at once, each to its own place; all must
// succeed and be on the disk.
void write_at_once(EngineLab& lab, unsigned count, std::size_t size, std::uint32_t seed) {
  std::vector<std::vector<std::byte>> data;
  std::vector<std::optional<std::error_code>> done(count);
  for (unsigned i = 0; i < count; ++i) data.push_back(pattern(size, seed + i));
  for (unsigned i = 0; i < count; ++i)
    lab.engine->async_write(i * size, data[i], [&done, i](std::error_code ec) { done[i] = ec; });
  REQUIRE(lab.run_until([&] { return std::all_of(done.begin(), done.end(), [](auto& d) { return d.has_value(); }); },
                        60s));
  for (unsigned i = 0; i < count; ++i) {
    REQUIRE_FALSE(*done[i]);
    CHECK(std::equal(data[i].begin(), data[i].end(), lab.target(0).disk.begin() + std::ptrdiff_t(i * size)));
  }
}

std::size_t frames_on(EngineLab& lab, unsigned p) { return ata_frames(lab.wire(p).sent_from(0)).size(); }

}  // namespace

TEST_CASE("test-engine-schedule-qd1-keeps-to-the-fast-path", "[engine][multipath]") {
  EngineLab lab({}, calm_options(), 1500, 2);
  lab.wire(1).faults_from(0).latency = 5ms;  // a distant or congested switch
  // Dependent 4 KiB writes, one at a time, as a QD1 writer issues them.
  for (unsigned i = 0; i < 400; ++i) {
    auto data = pattern(4096, i);
    REQUIRE_FALSE(lab.write(std::uint64_t{i % 512} * 4096, data));
    REQUIRE(std::equal(data.begin(), data.end(), lab.target(0).disk.begin() + std::ptrdiff_t(i % 512) * 4096));
  }
  // 1600 frames: the slow path, unmeasured, is taken to be as fast as the
  // other and gets its turn in the first request (2 of its 4 frames); once
  // measured, never a frame again.  (Its refresh probe comes once a second
  // of idleness; the 400 requests take 5 ms of simulated time.)
  CAPTURE(frames_on(lab, 0), frames_on(lab, 1));
  CHECK(frames_on(lab, 0) == 1598);
  CHECK(frames_on(lab, 1) == 2);
  CHECK(lab.engine->path_status()[1].failures == 0);
}

TEST_CASE("test-engine-schedule-deep-queue-gives-the-slow-path-a-share", "[engine][multipath]") {
  FakeTargetOptions t;
  t.sectors = 16384;
  EngineLab lab(t, calm_options(), 1500, 2);
  lab.wire(0).faults_from(0).latency = 100us;
  lab.wire(1).faults_from(0).latency = 5ms;
  // 8192 frames waiting: more than the fast path finishes in 5 ms (a
  // window of 16 every 100 us: 800).
  write_at_once(lab, 64, 128 * 1024, 40);
  // On simulated time the split is exact: the slow path carries what the
  // fast one cannot finish within 5 ms, a small share.
  CAPTURE(frames_on(lab, 0), frames_on(lab, 1));
  CHECK(frames_on(lab, 0) == 8040);
  CHECK(frames_on(lab, 1) == 152);
  CHECK(lab.engine->path_status()[1].failures == 0);
}

TEST_CASE("test-engine-schedule-equal-paths-split-evenly", "[engine][multipath]") {
  EngineLab lab({}, calm_options(), 1500, 2);
  write_at_once(lab, 32, 64 * 1024, 50);
  // Equal paths with equal windows take turns: exactly half each.
  CHECK(frames_on(lab, 0) == 1024);
  CHECK(frames_on(lab, 1) == 1024);
}

TEST_CASE("test-engine-schedule-jittery-path-is-slow-not-failed", "[engine][multipath]") {
  // The engine's own timers (first RTO 200 ms, probes every 500 ms), a path
  // answering in 20 ms and one in 150-600 ms: at a deep queue the jittery
  // path carries frames, some time out and are answered late; it must
  // neither be failed nor cycle between failed and restored.
  EngineOptions o;
  EngineLab lab({}, o, 1500, 2);
  lab.wire(0).faults_from(0).latency = 20ms;
  lab.wire(1).faults_from(0).latency = 150ms;
  lab.wire(1).faults_from(0).jitter = 450ms;
  write_at_once(lab, 32, 64 * 1024, 60);
  auto st = lab.engine->path_status();
  CAPTURE(frames_on(lab, 0), frames_on(lab, 1), st[1].timeouts, st[1].srtt.count(), st[1].rto.count());
  CHECK(frames_on(lab, 1) == 67);  // it carried a share (exact on simulated time): the test tests something
  CHECK(st[1].failures == 0);
  CHECK_FALSE(st[1].failed);
}
