// Late copies of writes (initiator/write_fences.h, docs/write-ordering.md):
// a target port that stalls with copies of a write queued and executes them,
// out of order, long after a later write of the same sectors completed, must
// not leave the older data on the disk or in any read.  The stalled port is
// the fake wire holding frames and handing them to the target when the test
// says; time is a ManualClock, so no timing decides an outcome and an hour
// passes in a step.
#include "initiator/engine.h"

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t at = 8 * 512;  // where the writes go

bool is_write(const FrameBytes& f, bool response) {
  wire::Frame d;
  return !wire::decode(f, d) && d.header.response == response && d.header.command == wire::Command::ata &&
         (std::get<wire::AtaArg>(d.arg).aflags & wire::aflags::write);
}

// Port 0 stalls: the write frames sent to it (up to `limit`) stay queued
// in it; answers to writes can be held on their way back the same way.
struct StalledPort {
  std::vector<FrameBytes> queued, answers;
  bool hold_answers = false;
  StalledPort(EngineLab& lab, std::size_t limit) {
    lab.wire(0).faults_from(0).drop_if = [this, limit](const FrameBytes& f) {
      if (queued.size() >= limit || !is_write(f, false)) return false;
      queued.push_back(f);
      return true;
    };
    lab.wire(0).faults_from(1).drop_if = [this](const FrameBytes& f) {
      if (!hold_answers || !is_write(f, true)) return false;
      answers.push_back(f);
      return true;
    };
  }
};

// Runs the engine, moving its clock `step` per look, until `pred` holds.
template <typename Pred>
bool run_clocked(EngineLab& lab, ManualClock& clock, Pred pred, Duration step = 5ms) {
  for (int i = 0; i < 4000; ++i) {
    if (pred()) return true;
    if (!clock.next_due() && lab.engine->in_flight_requests() == 0 && pred()) return true;
    clock.advance(step);
  }
  return pred();
}

std::error_code write_clocked(EngineLab& lab, ManualClock& clock, std::uint64_t offset, std::span<const std::byte> d) {
  std::optional<std::error_code> r;
  lab.engine->async_write(offset, d, [&](std::error_code ec) { r = ec; });
  REQUIRE(run_clocked(lab, clock, [&] { return r.has_value(); }));
  return *r;
}

std::vector<std::byte> read_clocked(EngineLab& lab, ManualClock& clock, std::uint64_t offset, std::size_t n) {
  std::vector<std::byte> buf(n);
  std::optional<std::error_code> r;
  lab.engine->async_read(offset, buf, [&](std::error_code ec) { r = ec; });
  REQUIRE(run_clocked(lab, clock, [&] { return r.has_value(); }));
  REQUIRE_FALSE(*r);
  return buf;
}

bool disk_holds(EngineLab& lab, const std::vector<std::byte>& data) {
  return std::equal(data.begin(), data.end(), lab.target().disk.begin() + at);
}

// RTOs of hundreds of ms against 5 ms steps: a frame times out only when
// the test holds it, however slowly a loaded machine runs the engine.
EngineOptions clocked() { return calm_options(); }

}  // namespace

TEST_CASE("test-engine-late-copies-out-of-order-are-repaired", "[engine][fence]") {
  // Two ports, the first stalling; or one port, whose first copies of each
  // frame stall while their retransmissions get through.
  const unsigned paths = GENERATE(2u, 1u);
  CAPTURE(paths);
  EngineLab lab({}, clocked(), 1500, paths);
  ManualClock& clock = lab.clock;
  StalledPort port(lab, 4);
  const auto w1 = pattern(4096, 1), w2 = pattern(4096, 2);  // 4 frames each

  REQUIRE_FALSE(write_clocked(lab, clock, at, w1));
  REQUIRE_FALSE(port.queued.empty());
  REQUIRE(disk_holds(lab, w1));

  // W2 goes out at once: nothing waits for the stalled copies.
  REQUIRE_FALSE(write_clocked(lab, clock, at, w2));
  CHECK(lab.engine->fenced_writes() == 0);
  REQUIRE(disk_holds(lab, w2));

  // An hour is no evidence that a copy can no longer execute.
  clock.advance(1h);
  CHECK(read_clocked(lab, clock, at, w2.size()) == w2);
  CHECK(lab.engine->fences() == port.queued.size());
  CHECK(lab.engine->kept_sectors() > 0);

  // The port wakes and executes its queue in reverse order, on top of W2.
  port.hold_answers = true;
  for (auto f = port.queued.rbegin(); f != port.queued.rend(); ++f) lab.wire(0).end(1).deliver(*f);
  REQUIRE(lab.run_until([&] { return port.answers.size() == port.queued.size(); }));
  CHECK_FALSE(disk_holds(lab, w2));  // the hazard: older data on the disk
  CHECK(read_clocked(lab, clock, at, w2.size()) == w2);  // never in a read

  // Their answers arrive (late, out of order): the newer data is written again.
  port.hold_answers = false;
  for (auto f = port.answers.rbegin(); f != port.answers.rend(); ++f) lab.wire(0).end(0).deliver(*f);
  REQUIRE(run_clocked(lab, clock, [&] { return lab.engine->fences() == 0 && lab.engine->kept_sectors() == 0; }));
  CHECK(lab.engine->repairs() > 0);
  CHECK(disk_holds(lab, w2));
  CHECK(read_clocked(lab, clock, at, w2.size()) == w2);
}

TEST_CASE("test-engine-in-order-ports-lift-fences-on-later-answers", "[engine][fence]") {
  // One path; the first copy of the write is lost, its retransmission on the
  // same path answered.  A port that serves in order has then executed or
  // dropped the first: no fence.  Otherwise the fence stays, however long.
  const bool in_order = GENERATE(true, false);
  CAPTURE(in_order);
  auto o = clocked();
  o.in_order_ports = in_order;
  EngineLab lab({}, o);
  ManualClock& clock = lab.clock;
  StalledPort port(lab, 1);
  REQUIRE_FALSE(write_clocked(lab, clock, at, pattern(512, 1)));
  REQUIRE(port.queued.size() == 1);
  clock.advance(24h);
  REQUIRE_FALSE(write_clocked(lab, clock, 0, pattern(512, 2)));  // the engine looks again
  CHECK(lab.engine->fences() == (in_order ? 0u : 1u));
}

TEST_CASE("test-engine-late-answer-must-echo-its-copy", "[engine][fence]") {
  EngineLab lab({}, clocked());
  ManualClock& clock = lab.clock;
  StalledPort port(lab, 1);
  REQUIRE_FALSE(write_clocked(lab, clock, at, pattern(512, 1)));
  REQUIRE(lab.engine->fences() == 1);
  auto rejected = [&] { return lab.engine->path_status()[0].rejected_replies; };
  const auto before = rejected();

  // An answer with the copy's tag that names another LBA answers another frame.
  wire::Frame copy;
  REQUIRE_FALSE(wire::decode(port.queued[0], copy));
  wire::Header h = copy.header;
  h.response = true;
  std::swap(h.src, h.dst);
  wire::AtaArg arg = std::get<wire::AtaArg>(copy.arg);
  arg.data = {};
  arg.sector_count = 0;
  arg.cmd_status = wire::ata::status_drdy;
  arg.lba += 100;
  std::vector<std::byte> forged(wire::min_frame_size + wire::ata_header_size);
  forged.resize(wire::encode(h, arg, forged));
  lab.wire(0).end(0).deliver(forged);
  CHECK(rejected() == before + 1);
  CHECK(lab.engine->fences() == 1);

  // The genuine answer lifts it.
  lab.wire(0).end(0).deliver(answer(port.queued[0], {}));
  CHECK(lab.engine->fences() == 0);
}

TEST_CASE("test-engine-fenced-write-waits-at-the-memory-bound-then-fails", "[engine][fence]") {
  auto o = clocked();
  o.late_copy_memory = 1;  // nothing can be kept
  o.deadline = 2s;
  EngineLab lab({}, o);
  ManualClock& clock = lab.clock;
  StalledPort port(lab, 1);
  REQUIRE_FALSE(write_clocked(lab, clock, at, pattern(512, 1)));
  REQUIRE(lab.engine->fences() == 1);

  // A write over the fenced sector cannot keep its data: it waits; others go.
  const auto sent = lab.wire(0).sent_from(0).size();
  std::optional<std::error_code> held;
  const auto w2 = pattern(512, 2);
  lab.engine->async_write(at, w2, [&](std::error_code ec) { held = ec; });
  CHECK(lab.wire(0).sent_from(0).size() == sent);
  CHECK(lab.engine->fenced_writes() == 1);
  REQUIRE_FALSE(write_clocked(lab, clock, at + 4096, pattern(512, 3)));
  CHECK_FALSE(held.has_value());

  // For the whole deadline, then EIO: never sent unprotected.
  REQUIRE(run_clocked(lab, clock, [&] { return held.has_value(); }, 100ms));
  CHECK(*held == errc::late_copies_pending);
  CHECK(to_errno(*held) == EIO);
  CHECK_FALSE(disk_holds(lab, w2));

  // The copy's answer lifts the fence: the sector takes writes again.
  lab.wire(0).end(0).deliver(answer(port.queued[0], {}));
  CHECK(lab.engine->fences() == 0);
  REQUIRE_FALSE(write_clocked(lab, clock, at, w2));
  CHECK(disk_holds(lab, w2));
}

TEST_CASE("test-engine-writes-never-retransmitted-pay-no-fence", "[engine][fence]") {
  EngineLab lab({}, calm_options(), 1500, 2);  // no spurious retransmission on a loaded machine
  REQUIRE_FALSE(lab.write(at, pattern(64 * 1024, 1)));
  const std::size_t sent = lab.wire(0).sent_from(0).size() + lab.wire(1).sent_from(0).size();
  std::optional<std::error_code> done;
  const auto later = pattern(512, 2);
  lab.engine->async_write(at, later, [&](std::error_code ec) { done = ec; });
  CHECK(lab.wire(0).sent_from(0).size() + lab.wire(1).sent_from(0).size() == sent + 1);  // from inside the call
  REQUIRE_FALSE(lab.wait(done));
  CHECK(lab.engine->fences() == 0);
  CHECK(lab.engine->kept_sectors() == 0);
  CHECK(lab.engine->fenced_writes() == 0);
}

TEST_CASE("test-engine-write-failed-at-the-deadline-fences-its-copies", "[engine][fence]") {
  // The target never answers: the write fails, but its copies may still be
  // queued somewhere and execute later.
  auto o = fast_options();
  o.deadline = 100ms;
  EngineLab lab({}, o);
  lab.target().silent = true;
  CHECK(lab.write(at, pattern(512, 1)));
  CHECK(lab.engine->fences() >= 1);
}

TEST_CASE("test-engine-late-copy-answer-counts-from-a-retired-path", "[engine][fence]") {
  // A port stalled long enough misses rediscoveries and its path is retired
  // (or it announced itself and waits for IDENTIFY): its late answers still
  // prove what its copies did.
  EngineLab lab({}, clocked(), 1500, 2);
  ManualClock& clock = lab.clock;
  StalledPort port(lab, 1);
  const auto w1 = pattern(512, 1), w2 = pattern(512, 2);
  REQUIRE_FALSE(write_clocked(lab, clock, at, w1));
  REQUIRE(port.queued.size() == 1);
  REQUIRE_FALSE(write_clocked(lab, clock, at, w2));
  lab.engine->suspend(mac(0x10));  // port 0's path is retired
  REQUIRE(lab.engine->fences() == 1);

  lab.wire(0).end(1).deliver(port.queued[0]);  // W1's copy executes on top of W2, and is answered
  REQUIRE(run_clocked(lab, clock, [&] { return lab.engine->fences() == 0 && lab.engine->kept_sectors() == 0; }));
  CHECK(lab.engine->repairs() == 1);
  CHECK(disk_holds(lab, w2));
}
