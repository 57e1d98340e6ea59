// FrameTable alone (initiator/frame_table.h): no engine, no wire, no clock
// but the time stamps the tests hand it.
#include "initiator/frame_table.h"

#include <catch2/catch.hpp>

#include <vector>

#include "initiator/errors.h"

using aoe::Clock;
using aoe::FrameTable;
using Kind = FrameTable::Kind;
namespace tag = aoe::tag;
namespace wire = aoe::wire;

namespace {

const Clock::time_point t0{std::chrono::seconds(100)};

struct Table {
  FrameTable frames{{.lba48 = true, .flush_ext = true}, 8};
  std::vector<std::error_code> done;  // completions run, in order
  std::byte data[64 * 512]{};

  FrameTable::Request* queue(Kind kind, std::uint64_t lba, std::uint32_t sectors) {
    auto* r = frames.make(kind, lba, sectors, data, t0, [this](std::error_code ec) { done.push_back(ec); });
    frames.enqueue(r);
    return r;
  }
  void run_completions() {
    FrameTable::Completions batch;
    frames.take_completions(batch);
    for (auto& [f, ec] : batch) f(ec);
  }
};

}  // namespace

TEST_CASE("test-frame-table-cuts-requests-into-frames") {
  Table t;
  auto* r = t.queue(Kind::write, 1000, 10);
  auto* flush = t.queue(Kind::flush, 0, 0);
  std::uint32_t a = t.frames.frame(r, 4);
  std::uint32_t b = t.frames.frame(r, 4);
  CHECK(t.frames.queue().front() == r);  // two sectors left
  CHECK(t.frames.waiting_frames(4) == 2);  // its last frame and the flush
  std::uint32_t c = t.frames.frame(r, 4);
  CHECK(t.frames.queue().front() == flush);
  CHECK(t.frames[a].first_sector == 0);
  CHECK(t.frames[b].first_sector == 4);
  CHECK(t.frames[c].sectors == 2);
  CHECK(t.frames.ata_arg(b).lba == 1004);
  CHECK(t.frames.ata_arg(b).sector_count == 4);
  CHECK(t.frames.ata_arg(b).cmd_status == wire::ata::write_sectors_ext);
  std::uint32_t f = t.frames.frame(flush, 4);
  CHECK(t.frames.queue().empty());
  CHECK(t.frames.ata_arg(f).cmd_status == wire::ata::flush_cache_ext);
  CHECK(t.frames.frames_in_flight() == 4);

  // A request completes once every frame of it returned, not before.
  t.frames.complete(c, {});
  t.frames.complete(a, {});
  t.frames.complete(f, {});
  CHECK(t.frames.completions_waiting());  // the flush is done
  t.run_completions();
  CHECK(t.done.size() == 1);
  t.frames.complete(b, {});
  t.run_completions();
  CHECK(t.done == std::vector<std::error_code>{{}, {}});
  CHECK(t.frames.live_requests() == 0);
  CHECK(t.frames.frames_in_flight() == 0);
}

TEST_CASE("test-frame-table-slots-run-out") {
  Table t;
  auto* r = t.queue(Kind::read, 0, 20);
  std::vector<std::uint32_t> slots;
  while (t.frames.has_free_slot()) slots.push_back(t.frames.frame(r, 2));
  CHECK(slots.size() == 8);
  CHECK(r->next_sector == 16);
  CHECK(t.frames.queue().front() == r);  // waits for a slot
  t.frames.complete(slots[0], {});
  CHECK(t.frames.has_free_slot());
}

TEST_CASE("test-frame-table-answers-match-their-transmissions") {
  Table t;
  auto* r = t.queue(Kind::read, 50, 4);
  std::uint32_t i = t.frames.frame(r, 8);
  std::uint32_t first = t.frames.transmitted(i, 0, 7, t0);
  CHECK(tag::is_engine(first));
  CHECK(tag::slot_of(first) == i);
  CHECK(t.frames[i].first_sent_at == t0);
  std::uint32_t second = t.frames.transmitted(i, 2, 9, t0 + std::chrono::milliseconds(5));
  CHECK(second != first);  // every transmission has a tag of its own
  CHECK(t.frames[i].first_sent_at == t0);  // the deadline runs from the first
  CHECK(t.frames[i].sequence == 9);
  CHECK(t.frames.age(second) == 0);
  CHECK(t.frames.age(first) == 1);
  CHECK_FALSE(t.frames.earlier(first));  // still this frame's
  std::uint32_t before = tag::engine(i, tag::generation_of(first) - 1);
  CHECK(t.frames.earlier(before));  // a frame the slot carried before
  CHECK(t.frames.sent_on(i, 0));
  CHECK(t.frames.sent_on(i, 2));
  CHECK_FALSE(t.frames.sent_on(i, 1));
  CHECK(t.frames.echoes(i, wire::ata_read(50, 4, true)));
  CHECK_FALSE(t.frames.echoes(i, wire::ata_read(55, 4, true)));   // an address past its sectors
  CHECK_FALSE(t.frames.echoes(i, wire::ata_read(50, 5, true)));   // more sectors than it asked
  CHECK_FALSE(t.frames.echoes(i, wire::ata_write(50, 4, true)));  // another direction
  t.frames.answered(first);
  CHECK(t.frames[i].answered);
  CHECK(t.frames[i].answered_generation == tag::generation_of(first));
  t.frames.complete(i, {});
  CHECK(t.frames[i].request == nullptr);  // a later answer finds the slot free: stray
  CHECK(t.frames[i].paths_sent == 0);
}

TEST_CASE("test-frame-table-failed-frame-fails-its-request") {
  Table t;
  auto* r = t.queue(Kind::write, 0, 12);
  auto* next = t.queue(Kind::write, 100, 4);
  std::uint32_t a = t.frames.frame(r, 4);
  CHECK(r->frames_outstanding == 1);
  std::uint32_t b = t.frames.frame(r, 4);
  t.frames.complete(a, aoe::errc::ata_media_error);
  CHECK(t.frames.queue().front() == next);  // frames nothing more
  CHECK_FALSE(t.frames.completions_waiting());  // b is still out
  t.frames.complete(b, {});
  t.run_completions();
  CHECK(t.done == std::vector<std::error_code>{aoe::errc::ata_media_error});  // the first error
  t.frames.fail_queued(aoe::errc::target_down);
  t.run_completions();
  CHECK(t.done.back() == aoe::errc::target_down);
  CHECK(t.frames.live_requests() == 0);
}

TEST_CASE("test-frame-table-retransmit-queue-and-cut") {
  Table t;
  auto* r = t.queue(Kind::write, 0, 8);
  std::uint32_t i = t.frames.frame(r, 8);
  t.frames.transmitted(i, 0, 1, t0);
  t.frames.queue_retransmit(i);
  CHECK(t.frames.retransmit_waiting());
  CHECK(t.frames.waiting_frames(8) == 1);
  // The path's payload dropped to 3 sectors: the rest goes into a new
  // frame, queued behind it, and cut again when its turn comes.
  REQUIRE(t.frames.fit(i, 3));
  CHECK(t.frames[i].sectors == 3);
  CHECK(t.frames.next_retransmit() == i);
  t.frames.pop_retransmit();
  CHECK_FALSE(t.frames[i].queued_for_retransmit);
  std::uint32_t rest1 = t.frames.next_retransmit();
  CHECK(t.frames[rest1].first_sector == 3);
  CHECK(t.frames[rest1].sectors == 5);
  CHECK(t.frames[rest1].first_sent_at == t0);  // the deadline runs from the first send
  CHECK(r->frames_outstanding == 2);
  REQUIRE(t.frames.fit(rest1, 3));
  CHECK(r->frames_outstanding == 3);
  // A frame completed while queued leaves the queue.
  t.frames.complete(rest1, {});
  std::uint32_t rest2 = t.frames.next_retransmit();
  CHECK(t.frames[rest2].first_sector == 6);
  CHECK(t.frames[rest2].sectors == 2);
  t.frames.complete(rest2, {});
  CHECK_FALSE(t.frames.retransmit_waiting());
  t.frames.complete(i, {});
  t.run_completions();
  CHECK(t.done.size() == 1);
}

TEST_CASE("test-frame-table-probe-is-one-frame") {
  Table t;
  auto* r = t.frames.make(Kind::probe, 0, 17, t.data, t0, [&](std::error_code ec) { t.done.push_back(ec); });
  std::uint32_t i = t.frames.frame_whole(r);
  CHECK(t.frames.queue().empty());
  CHECK(t.frames[i].sectors == 17);
  CHECK(t.frames.ata_arg(i).lba == 0);
  t.frames.complete(i, aoe::errc::timed_out);
  t.run_completions();
  CHECK(t.done == std::vector<std::error_code>{aoe::errc::timed_out});
}

// Failing the queue (the target went down) while a request has a frame out:
// it frames nothing more, but completes only once that frame returned,
// since the frame still reads the request's data (a write) or writes into
// it (a read).  A request with nothing out completes at once.
TEST_CASE("test-frame-table-fail-queued-waits-for-frames-out") {
  Table t;
  auto* r = t.queue(Kind::write, 0, 8);
  t.queue(Kind::read, 100, 4);
  std::uint32_t a = t.frames.frame(r, 4);  // half framed: still queued
  t.frames.fail_queued(aoe::errc::target_down);
  CHECK(t.frames.queue().empty());
  t.run_completions();
  CHECK(t.done == std::vector<std::error_code>{aoe::errc::target_down});  // the read only
  CHECK(t.frames.live_requests() == 1);
  t.frames.complete(a, {});
  t.run_completions();
  CHECK(t.done == std::vector<std::error_code>{aoe::errc::target_down, aoe::errc::target_down});
  CHECK(t.frames.live_requests() == 0);
}
