// WriteFences alone (initiator/write_fences.h): which evidence lifts a fence,
// the echo checks on late answers, kept data, reads, repairs, the memory
// bound.  No engine, no wire, no clock: time is never evidence, so nothing
// here waits.
#include "initiator/write_fences.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

using namespace aoe;

namespace {

using Fences = WriteFences;

std::vector<std::byte> sectors_of(std::uint32_t n, std::uint8_t value) {
  return std::vector<std::byte>(std::size_t{n} * wire::sector_size, std::byte{value});
}

// The ATA Arg of vblade's answer to a write of `sectors` at `lba`.
wire::AtaArg write_answer(std::uint64_t lba, std::uint8_t sectors) {
  wire::AtaArg a = wire::ata_write(lba, sectors, true);
  a.sector_count = 0;
  a.cmd_status = wire::ata::status_drdy;
  return a;
}

// Slot 7's write of 2 sectors at lba 100: generation 1 on path 0 (the copy
// that gets lost or stalls), generation 2 on path 1, answered.
void write_sent_twice(Fences& f) {
  f.sent({.slot = 7, .generation = 1, .path = 0, .sequence = 5, .lba = 100, .sectors = 2}, false);
  f.sent({.slot = 7, .generation = 2, .path = 1, .sequence = 9, .lba = 100, .sectors = 2}, true);
  f.done(7, 2u);
}

const auto no_reads = [](std::uint64_t, std::uint32_t) { return false; };

}  // namespace

TEST_CASE("test-write-fences-answered-once-leaves-no-fence", "[fences]") {
  Fences f({}, 16);
  f.sent({.slot = 3, .generation = 1, .path = 0, .sequence = 0, .lba = 100, .sectors = 2}, false);
  f.done(3, 1u);
  CHECK(f.empty());
  CHECK(f.admit(100, 2) == Fences::Admit::go);
}

TEST_CASE("test-write-fences-unanswered-copy-fences-until-its-answer", "[fences]") {
  Fences f({}, 16);
  write_sent_twice(f);
  CHECK(f.fences() == 1);
  // Answers to other frames on the copy's path prove nothing without in_order.
  f.path_answered(0, 1000);
  CHECK(f.fences() == 1);
  CHECK(f.late_answer(7, 1, 0, write_answer(100, 2), false) == Fences::Answer::resolved);
  CHECK(f.fences() == 0);
  CHECK(f.next_repair() == nullptr);  // nothing newer was written: nothing to repair
  f.release(no_reads);
  CHECK(f.empty());
}

TEST_CASE("test-write-fences-failed-write-fences-every-copy", "[fences]") {
  Fences f({}, 16);
  f.sent({.slot = 1, .generation = 10, .path = 0, .sequence = 0, .lba = 8, .sectors = 1}, false);
  f.sent({.slot = 1, .generation = 11, .path = 0, .sequence = 1, .lba = 8, .sectors = 1}, true);
  f.done(1, std::nullopt);  // the deadline: no answer at all
  CHECK(f.fences() == 2);
}

TEST_CASE("test-write-fences-late-answer-is-echo-checked", "[fences]") {
  Fences f({}, 16);
  write_sent_twice(f);
  // Another LBA, a larger count, a read's flags, another path, another generation.
  CHECK(f.late_answer(7, 1, 0, write_answer(300, 2), false) == Fences::Answer::rejected);
  auto more = write_answer(100, 2);
  more.sector_count = 3;
  CHECK(f.late_answer(7, 1, 0, more, false) == Fences::Answer::rejected);
  auto read = wire::ata_read(100, 2, true);
  CHECK(f.late_answer(7, 1, 0, read, false) == Fences::Answer::rejected);
  CHECK(f.late_answer(7, 1, 1, write_answer(100, 2), false) == Fences::Answer::rejected);
  CHECK(f.late_answer(7, 3, 0, write_answer(100, 2), false) == Fences::Answer::unknown);
  CHECK(f.fences() == 1);
  // An AoE error answer need not echo the Arg: the target refused the copy.
  CHECK(f.late_answer(7, 1, 0, wire::AtaArg{}, true) == Fences::Answer::resolved);
  CHECK(f.fences() == 0);
}

TEST_CASE("test-write-fences-in-order-ports-lift-on-a-later-answer", "[fences]") {
  Fences f({.in_order = true}, 16);
  write_sent_twice(f);
  f.path_answered(1, 1000);  // another path says nothing of path 0
  f.path_answered(0, 5);     // the copy itself was sequence 5: not later
  CHECK(f.fences() == 1);
  f.path_answered(0, 6);
  CHECK(f.fences() == 0);
}

TEST_CASE("test-write-fences-later-write-is-kept-read-patched-and-repaired", "[fences]") {
  Fences f({}, 16);
  write_sent_twice(f);  // lba 100..101 fenced
  // A later write of 98..103 goes at once; only the fenced sectors are kept.
  REQUIRE(f.admit(98, 6) == Fences::Admit::go);
  auto newer = sectors_of(6, 0xB2);
  f.framed(98, 6, newer.data());
  CHECK(f.kept_sectors() == 2);

  // The late copy executes (the disk holds its older data): reads still get the newer.
  auto disk = newer;
  std::memset(disk.data() + 2 * wire::sector_size, 0xA1, 2 * wire::sector_size);  // sectors 100..101
  f.patch_read(98, 6, disk.data());
  CHECK(disk == newer);

  // Its answer: the kept data is written again before anything newer goes.
  REQUIRE(f.late_answer(7, 1, 0, write_answer(100, 2), false) == Fences::Answer::resolved);
  Fences::Repair* r = f.next_repair();
  REQUIRE(r != nullptr);
  CHECK(r->lba == 100);
  CHECK(r->sectors == 2);
  CHECK(r->data == sectors_of(2, 0xB2));
  CHECK(f.next_repair() == nullptr);
  CHECK(f.admit(101, 1) == Fences::Admit::repairing);
  CHECK(f.admit(102, 1) == Fences::Admit::go);
  f.release(no_reads);
  CHECK(f.kept_sectors() == 2);  // the repair still covers them

  // A failed repair is sent again; a done one releases the sectors.
  std::uint64_t id = r->id;
  f.repair_done(id, false);
  r = f.next_repair();
  REQUIRE(r != nullptr);
  f.repair_done(r->id, true);
  CHECK(f.repairs() == 1);
  f.release(no_reads);
  CHECK(f.empty());
}

TEST_CASE("test-write-fences-newest-write-is-what-is-repaired", "[fences]") {
  Fences f({}, 16);
  write_sent_twice(f);
  auto second = sectors_of(2, 2), third = sectors_of(2, 3);
  f.framed(100, 2, second.data());
  f.framed(100, 2, third.data());
  REQUIRE(f.late_answer(7, 1, 0, write_answer(100, 2), false) == Fences::Answer::resolved);
  Fences::Repair* r = f.next_repair();
  REQUIRE(r != nullptr);
  CHECK(r->data == third);
}

TEST_CASE("test-write-fences-release-waits-for-reads-in-flight", "[fences]") {
  Fences f({}, 16);
  write_sent_twice(f);
  auto newer = sectors_of(2, 0xB2);
  f.framed(100, 2, newer.data());
  REQUIRE(f.late_answer(7, 1, 0, write_answer(100, 2), false) == Fences::Answer::resolved);
  f.repair_done(f.next_repair()->id, true);
  // A read sent before the repair landed may carry the older data: it is
  // still patched from the kept sectors when it is answered.
  f.release([](std::uint64_t lba, std::uint32_t n) { return lba <= 100 && 100 < lba + n; });
  CHECK(f.kept_sectors() == 2);
  CHECK(f.wants_tick());
  f.release(no_reads);
  CHECK(f.kept_sectors() == 0);
  CHECK_FALSE(f.wants_tick());
}

TEST_CASE("test-write-fences-memory-bound-holds-only-fenced-writes", "[fences]") {
  Fences f({.memory_limit = 1024}, 16);
  write_sent_twice(f);
  CHECK(f.admit(101, 2) == Fences::Admit::full);  // would keep data past the bound
  CHECK(f.admit(102, 2) == Fences::Admit::go);    // nothing to keep
  CHECK(f.late_answer(7, 1, 0, write_answer(100, 2), false) == Fences::Answer::resolved);
  CHECK(f.admit(101, 2) == Fences::Admit::go);
}

TEST_CASE("test-write-fences-cut-copy-keeps-its-own-count", "[fences]") {
  // A frame cut on resend (a path's payload lowered): the first copy carried
  // 4 sectors, the resend 2.  The late answer of the first echoes 4.
  Fences f({}, 16);
  f.sent({.slot = 2, .generation = 1, .path = 0, .sequence = 0, .lba = 40, .sectors = 4}, false);
  f.sent({.slot = 2, .generation = 2, .path = 1, .sequence = 0, .lba = 40, .sectors = 2}, true);
  f.done(2, 2u);
  auto newer = sectors_of(4, 9);
  f.framed(40, 4, newer.data());
  CHECK(f.kept_sectors() == 4);  // the wider copy fences all four
  // Echoing the last sector's LBA, as a drive's registers would: within
  // the 4 sectors the copy carried, past the 2 of the resend.
  auto answer = write_answer(40, 4);
  answer.lba = 43;
  CHECK(f.late_answer(2, 1, 0, answer, false) == Fences::Answer::resolved);
  REQUIRE(f.next_repair() != nullptr);
}
