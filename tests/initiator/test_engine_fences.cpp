// Retransmitted writes: a late copy of an earlier write never lands on top of
// a later write of the same sectors.  The first copy of a write is taken off
// the wire (as a slow path or a switch queue would hold it) and handed to the
// target only when the test says so: no timing decides the outcome.
#include "initiator/engine.h"

#include <catch2/catch.hpp>

#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t at = 8 * 512;  // the sectors both writes cover

// Short RTO, so the held copy is retransmitted at once; the fence lasts
// longer than any test, so only an answer lifts it unless a test says otherwise.
EngineOptions options(std::chrono::milliseconds copy_lifetime = 60s) {
  auto o = fast_options();
  o.write_copy_lifetime = copy_lifetime;
  return o;
}

// Takes the first ATA write the engine sends on `wire` off the wire.
struct HoldFirstWrite {
  FrameBytes held;
  explicit HoldFirstWrite(FakeWire& wire) {
    wire.faults_from(0).drop_if = [this](const FrameBytes& f) {
      wire::Frame d;
      if (!held.empty() || wire::decode(f, d) || d.header.command != wire::Command::ata ||
          !(std::get<wire::AtaArg>(d.arg).aflags & wire::aflags::write))
        return false;
      held = f;
      return true;
    };
  }
};

std::size_t ata_sent(EngineLab& lab) {
  std::size_t n = 0;
  for (unsigned i = 0; i < lab.ports.size(); ++i) n += ata_frames(lab.wire(i).sent_from(0)).size();
  return n;
}

std::uint64_t late_answers(EngineLab& lab) {
  std::uint64_t n = lab.engine->stray_replies();
  for (const auto& p : lab.engine->path_status()) n += p.late_replies;
  return n;
}

bool disk_holds(EngineLab& lab, const std::vector<std::byte>& data) {
  return std::equal(data.begin(), data.end(), lab.target().disk.begin() + at);
}

}  // namespace

TEST_CASE("test-engine-stale-write-copy-never-overwrites-a-later-write", "[engine][fence]") {
  // Same port too: docs/aoe-protocol.md §8.10 lets a target execute queued
  // frames in any order (vblade happens to run one port's frames in order; a
  // shelf with a command queue need not), and two NICs to one port are two
  // routes.
  const unsigned paths = GENERATE(2u, 1u);
  CAPTURE(paths);
  EngineLab lab({}, options(), 1500, paths);
  HoldFirstWrite hold(lab.wire(0));
  const auto first = pattern(512, 1), later = pattern(512, 2);

  // The first copy is held; the retransmission (on path 1 when there are
  // two) is answered and completes the write.
  REQUIRE_FALSE(lab.write(at, first));
  REQUIRE_FALSE(hold.held.empty());
  CHECK(ata_frames(lab.wire(paths - 1).sent_from(0)).size() == (paths == 2 ? 1u : 2u));
  REQUIRE(disk_holds(lab, first));

  // A later write of the same sector.  Without a fence it goes out at once
  // and is answered before the held copy arrives.
  const std::size_t sent = ata_sent(lab);
  std::optional<std::error_code> later_done;
  lab.engine->async_write(at, later, [&](std::error_code ec) { later_done = ec; });
  if (ata_sent(lab) > sent) REQUIRE(lab.run_until([&] { return later_done.has_value(); }));

  // Now the first copy reaches the target, executes and is answered.
  const auto answers = late_answers(lab);
  boost::asio::post(lab.io, [&] { lab.wire(0).end(1).deliver(hold.held); });
  REQUIRE(lab.run_until([&] { return later_done.has_value() && late_answers(lab) > answers; }));
  REQUIRE_FALSE(*later_done);
  CHECK(disk_holds(lab, later));  // not the stale copy's data
  CHECK(lab.engine->fenced_writes() == 1);
  CHECK(lab.engine->fences() == 0);  // every copy answered: lifted
}

TEST_CASE("test-engine-fence-ends-with-the-copy-lifetime-when-a-copy-is-lost", "[engine][fence]") {
  EngineLab lab({}, options(1s), 1500, 2);
  HoldFirstWrite hold(lab.wire(0));  // never delivered: lost
  REQUIRE_FALSE(lab.write(at, pattern(512, 1)));
  REQUIRE(lab.engine->fences() == 1);
  const std::size_t sent = ata_sent(lab);
  std::optional<std::error_code> done;
  const auto later = pattern(512, 2);
  lab.engine->async_write(at, later, [&](std::error_code ec) { done = ec; });
  CHECK(ata_sent(lab) == sent);  // held
  REQUIRE_FALSE(lab.wait(done));  // once the held copy is too old to execute
  CHECK(disk_holds(lab, later));
  CHECK(lab.engine->fences() == 0);
}

TEST_CASE("test-engine-fence-holds-only-overlapping-writes", "[engine][fence]") {
  EngineLab lab({}, options(), 1500, 2);
  HoldFirstWrite hold(lab.wire(0));
  REQUIRE_FALSE(lab.write(at, pattern(1024, 1)));  // sectors 8 and 9, in one frame
  REQUIRE(lab.engine->fences() == 1);

  // Elsewhere, and reads of the fenced sectors, go at once.
  std::size_t sent = ata_sent(lab);
  std::optional<std::error_code> elsewhere, read;
  std::vector<std::byte> buf(1024);
  const auto third = pattern(512, 3), fourth = pattern(512, 4), fifth = pattern(512, 5);
  lab.engine->async_write(at + 1024, third, [&](std::error_code ec) { elsewhere = ec; });
  lab.engine->async_read(at, buf, [&](std::error_code ec) { read = ec; });
  CHECK(ata_sent(lab) == sent + 2);
  REQUIRE_FALSE(lab.wait(elsewhere));
  REQUIRE_FALSE(lab.wait(read));

  // A write of the second sector only waits; one queued behind it overtakes it.
  sent = ata_sent(lab);
  std::optional<std::error_code> overlapping, behind;
  lab.engine->async_write(at + 512, fourth, [&](std::error_code ec) { overlapping = ec; });
  lab.engine->async_write(at + 4096, fifth, [&](std::error_code ec) { behind = ec; });
  CHECK(ata_sent(lab) == sent + 1);
  REQUIRE_FALSE(lab.wait(behind));
  CHECK_FALSE(overlapping.has_value());
  boost::asio::post(lab.io, [&] { lab.wire(0).end(1).deliver(hold.held); });
  REQUIRE_FALSE(lab.wait(overlapping));
  CHECK(std::equal(fourth.begin(), fourth.end(), lab.target().disk.begin() + at + 512));
}

TEST_CASE("test-engine-writes-never-retransmitted-pay-no-fence", "[engine][fence]") {
  EngineLab lab({}, options(), 1500, 2);
  REQUIRE_FALSE(lab.write(at, pattern(64 * 1024, 1)));
  const std::size_t sent = ata_sent(lab);
  std::optional<std::error_code> done;
  const auto later = pattern(512, 2);
  lab.engine->async_write(at, later, [&](std::error_code ec) { done = ec; });
  CHECK(ata_sent(lab) == sent + 1);  // sent from inside the call
  REQUIRE_FALSE(lab.wait(done));
  CHECK(lab.engine->fences() == 0);
  CHECK(lab.engine->fenced_writes() == 0);
}

TEST_CASE("test-engine-write-failed-at-the-deadline-fences-its-copies", "[engine][fence]") {
  // The target never answers: the write fails, but its copies may still be
  // queued somewhere and execute later, so the next write of those sectors
  // waits for them as well.
  auto o = options();
  o.deadline = 100ms;
  EngineLab lab({}, o);
  lab.target().silent = true;
  CHECK(lab.write(at, pattern(512, 1)));
  CHECK(lab.engine->fences() == 1);
}
