// Engine behaviour over the fake wire: splitting, reassembly, loss recovery,
// late and duplicate replies, windows, deadlines and error mapping.
#include "initiator/engine.h"

#include <utility>

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;

TEST_CASE("test-engine-write-read-roundtrip-mtu1500", "[engine]") {
  EngineLab lab;
  auto data = pattern(256 * 1024, 1);
  REQUIRE_FALSE(lab.write(4096, data));
  // Every byte landed on the target at the right place...
  REQUIRE(std::equal(data.begin(), data.end(), lab.target().disk.begin() + 4096));
  std::vector<std::byte> back(data.size());
  REQUIRE_FALSE(lab.read(4096, back));
  CHECK(back == data);
  // ...in 1 KiB frames: two sectors is all a 1500-byte MTU carries (docs/aoe-protocol.md §7).
  auto frames = ata_frames(lab.wire().sent_from(0));
  REQUIRE(frames.size() == 2 * 256);
  for (const auto& f : frames) CHECK(std::get<wire::AtaArg>(f.arg).sector_count == 2);
}

TEST_CASE("test-engine-frames-sized-by-mtu9000", "[engine]") {
  EngineLab lab({}, calm_options(), 9000);
  CHECK(lab.engine->payload_sectors() == 17);
  auto data = pattern(17 * 512 * 3 + 1024, 2);  // three full frames and a 2-sector rest
  REQUIRE_FALSE(lab.write(0, data));
  auto frames = ata_frames(lab.wire().sent_from(0));
  REQUIRE(frames.size() == 4);
  std::vector<int> counts;
  for (const auto& f : frames) counts.push_back(std::get<wire::AtaArg>(f.arg).sector_count);
  std::sort(counts.begin(), counts.end());
  CHECK(counts == std::vector<int>{2, 17, 17, 17});
  REQUIRE(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
}

TEST_CASE("test-engine-lost-frame-retransmitted-with-new-tag", "[engine]") {
  EngineLab lab;
  lab.wire().faults_from(0).drop = {2};  // the third request frame never arrives
  auto data = pattern(8 * 1024, 3);
  REQUIRE_FALSE(lab.write(0, data));
  REQUIRE(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
  auto frames = ata_frames(lab.wire().sent_from(0));
  REQUIRE(frames.size() == 9);  // 8 frames + 1 retransmission
  const auto& lost = frames[2];
  auto lba = std::get<wire::AtaArg>(lost.arg).lba;
  auto again = std::find_if(frames.begin() + 3, frames.end(),
                            [&](const wire::Frame& f) { return std::get<wire::AtaArg>(f.arg).lba == lba; });
  REQUIRE(again != frames.end());
  CHECK(again->header.tag != lost.header.tag);
  CHECK(tag::slot_of(again->header.tag) == tag::slot_of(lost.header.tag));
  CHECK(tag::is_engine(again->header.tag));
  auto st = lab.engine->path_status().at(0);
  CHECK(st.timeouts == 1);
  CHECK(st.retransmits == 1);
}

TEST_CASE("test-engine-write-completes-only-after-every-ack", "[engine]") {
  EngineLab lab;
  lab.wire().faults_from(1).drop = {3};  // the target wrote frame 3 but its ack is lost
  auto data = pattern(4 * 1024, 4);
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { done = ec; });
  // All four acks but one arrive within a millisecond or two; the request must
  // still wait for the retransmission of the unacknowledged frame.
  lab.run_until([&] { return lab.wire().sent_from(1).size() >= 4; });
  CHECK_FALSE(done.has_value());
  REQUIRE_FALSE(lab.wait(done));
  CHECK(lab.engine->path_status()[0].retransmits == 1);
}

TEST_CASE("test-engine-late-reply-after-retransmit-completes-once", "[engine]") {
  EngineLab lab({}, fast_options());
  // The first reply arrives after the RTO (20 ms): the frame is sent again,
  // and both answers come back.  Whichever is first completes the frame.
  lab.wire().faults_from(1).delay[0] = std::chrono::milliseconds(60);
  auto data = pattern(1024, 5);
  int completions = 0;
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { ++completions; done = ec; });
  REQUIRE_FALSE(lab.wait(done));
  lab.run_until([&] { return lab.wire().sent_from(1).size() >= 2; });
  lab.advance(std::chrono::milliseconds(100));  // let the late one land
  CHECK(completions == 1);
  CHECK(lab.engine->path_status()[0].retransmits >= 1);
  CHECK(lab.engine->stray_replies() >= 1);
}

TEST_CASE("test-engine-stale-reply-never-copied-into-newer-request", "[engine]") {
  EngineLab lab;  // calm: the first RTO is 400 ms, the tick every 50 ms (on simulated time: exact)
  auto disk = pattern(lab.target().disk.size(), 6);
  lab.target().disk = disk;
  // Read A's first answer is held 600 ms: A is retransmitted at 400 ms and
  // completes; read B takes the same slot, and its answer is held until
  // after A's stale one has landed.  The stale answer (same length, other
  // data) must be recognised by its generation, never copied into B.
  lab.wire().faults_from(1).delay[0] = std::chrono::milliseconds(600);
  lab.wire().faults_from(1).delay[2] = std::chrono::milliseconds(400);
  std::vector<std::byte> a(1024), b(1024);
  REQUIRE_FALSE(lab.read(0, a));
  std::optional<std::error_code> done_b;
  lab.engine->async_read(512 * 100, b, [&](std::error_code ec) { done_b = ec; });
  REQUIRE_FALSE(lab.wait(done_b));
  auto frames = ata_frames(lab.wire().sent_from(0));
  REQUIRE(frames.size() == 3);  // A, A again, B
  REQUIRE(tag::slot_of(frames[2].header.tag) == tag::slot_of(frames[0].header.tag));
  CHECK(lab.engine->path_status()[0].late_replies == 1);
  CHECK(std::equal(a.begin(), a.end(), disk.begin()));
  CHECK(std::equal(b.begin(), b.end(), disk.begin() + 512 * 100));
}

TEST_CASE("test-engine-duplicate-replies-complete-once", "[engine]") {
  EngineLab lab;
  auto& f = lab.wire().faults_from(1);
  for (std::size_t i = 0; i < 64; ++i) f.duplicate.insert(i);
  auto data = pattern(32 * 1024, 7);
  int completions = 0;
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { ++completions; done = ec; });
  REQUIRE_FALSE(lab.wait(done));
  lab.advance(std::chrono::milliseconds(20));
  CHECK(completions == 1);
  CHECK(lab.engine->stray_replies() + lab.engine->path_status()[0].late_replies == 32);
}

TEST_CASE("test-engine-reordered-replies-reassemble-exactly", "[engine]") {
  EngineLab lab;
  auto disk = pattern(lab.target().disk.size(), 8);
  lab.target().disk = disk;
  lab.wire().faults_from(1).hold = {0, 2, 5, 9};
  std::vector<std::byte> back(64 * 1024);
  REQUIRE_FALSE(lab.read(0, back));
  CHECK(std::equal(back.begin(), back.end(), disk.begin()));
}

TEST_CASE("test-engine-random-loss-duplication-reorder-data-exact", "[engine]") {
  EngineLab lab({}, fast_options());
  lab.wire().faults_from(0).loss = 0.05;
  lab.wire().faults_from(1).loss = 0.05;
  for (std::size_t i = 0; i < 2000; i += 7) lab.wire().faults_from(1).duplicate.insert(i);
  for (std::size_t i = 3; i < 2000; i += 11) lab.wire().faults_from(1).hold.insert(i);
  auto data = pattern(1 << 20, 9);
  REQUIRE_FALSE(lab.write(0, data));
  std::vector<std::byte> back(data.size());
  REQUIRE_FALSE(lab.read(0, back));
  CHECK(back == data);
  CHECK(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
}

TEST_CASE("test-engine-window-starts-at-half-buffer-count-and-grows", "[engine]") {
  FakeTargetOptions t;
  t.buffer_count = 16;
  EngineLab lab(t);
  CHECK(lab.engine->path_status()[0].window == 8);
  auto data = pattern(256 * 1024, 10);
  REQUIRE_FALSE(lab.write(0, data));
  CHECK(lab.engine->path_status()[0].window == 16);
  CHECK(lab.engine->path_status()[0].window_cap == 16);
}

TEST_CASE("test-engine-never-exceeds-buffer-count", "[engine]") {
  FakeTargetOptions t;
  t.buffer_count = 4;
  t.service_time = std::chrono::microseconds(300);
  EngineLab lab(t);
  auto data = pattern(128 * 1024, 11);
  REQUIRE_FALSE(lab.write(0, data));
  CHECK(lab.target().max_in_service <= 4);
  CHECK(lab.target().dropped_busy == 0);
}

TEST_CASE("test-engine-window-halves-on-loss-once-per-episode", "[engine]") {
  FakeTargetOptions t;
  t.buffer_count = 16;
  EngineLab lab(t);
  REQUIRE_FALSE(lab.write(0, pattern(256 * 1024, 12)));
  REQUIRE(lab.engine->path_status()[0].window == 16);
  // Lose a whole burst of the next request's frames: one episode, one halving.
  auto base = lab.wire().sent_from(0).size();
  for (std::size_t i = base; i < base + 6; ++i) lab.wire().faults_from(0).drop.insert(i);
  REQUIRE_FALSE(lab.write(0, pattern(16 * 1024, 13)));
  auto st = lab.engine->path_status()[0];
  CHECK(st.timeouts == 6);
  CHECK(st.window >= 8);
  CHECK(st.window < 16);
}

TEST_CASE("test-engine-deadline-fails-eio-and-target-down", "[engine]") {
  auto opts = fast_options();
  opts.deadline = std::chrono::milliseconds(300);
  EngineLab lab({}, opts);
  lab.target().silent = true;
  std::vector<std::byte> buf(4096);
  std::optional<std::error_code> done;
  lab.engine->async_read(0, buf, [&](std::error_code ec) { done = ec; });
  REQUIRE(lab.run_until([&] { return !lab.wire().sent_from(0).empty(); }));
  // 1 ms short of the deadline since the first send: retransmitted, not failed.
  lab.advance(std::chrono::milliseconds(299));
  CHECK(lab.engine->path_status()[0].retransmits > 0);
  CHECK_FALSE(done.has_value());
  CHECK_FALSE(lab.engine->is_down());
  // At the deadline, on the engine's next tick (at most 50 ms apart): EIO.
  REQUIRE(lab.run_until([&] { return done.has_value(); }, std::chrono::milliseconds(51)));
  auto ec = *done;
  CHECK(ec == errc::target_down);
  CHECK(to_errno(ec) == EIO);
  CHECK(lab.engine->is_down());
  // Fails fast while down, without a frame on the wire.
  auto sent = lab.wire().sent_from(0).size();
  CHECK(lab.read(0, buf) == errc::target_down);
  CHECK(lab.wire().sent_from(0).size() == sent);
  // Back when the target answers discovery again.
  lab.target().silent = false;
  lab.engine->target_answered();
  CHECK_FALSE(lab.read(0, buf));
}

namespace {

// A 4 KiB read whose answers reach `link` but wait unread (FakeLink's
// unread_only), run until they are there; `done` gets its result.
void read_with_answers_unread(EngineLab& lab, FakeLink& link, std::vector<std::byte>& buf,
                              std::optional<std::error_code>& done) {
  link.unread_only = true;
  lab.engine->async_read(0, buf, [&done](std::error_code ec) { done = ec; });
  REQUIRE(lab.run_until([&] { return !link.unread.empty(); }));
}

}  // namespace

TEST_CASE("test-engine-deadline-reads-waiting-answers-first", "[engine]") {
  auto opts = fast_options();
  opts.deadline = std::chrono::milliseconds(10);  // shorter than the first RTO (20 ms): the deadline judges first
  EngineLab lab({}, opts);
  FakeLink& link = lab.wire().end(0);
  std::vector<std::byte> buf(4096);
  std::optional<std::error_code> done;
  read_with_answers_unread(lab, link, buf, done);
  // Past the deadline, before any timeout, with the answers unread: the
  // tick takes them before it judges, so the read succeeds and the target
  // stays up.
  REQUIRE(lab.run_until([&] { return done.has_value(); }, std::chrono::milliseconds(351)));
  CHECK_FALSE(*done);
  CHECK_FALSE(lab.engine->is_down());
  CHECK(link.unread.empty());
}

TEST_CASE("test-engine-timeout-reads-waiting-answers-first", "[engine]") {
  EngineLab lab({}, fast_options());
  FakeLink& link = lab.wire().end(0);
  std::vector<std::byte> buf(4096);
  std::optional<std::error_code> done;
  read_with_answers_unread(lab, link, buf, done);
  // The first tick past the RTO takes the answer instead of resending:
  // no timeout counted, no retransmission, no window halved.
  REQUIRE(lab.run_until([&] { return done.has_value(); }, std::chrono::seconds(1)));
  CHECK_FALSE(*done);
  const PathStatus st = lab.engine->path_status()[0];
  CHECK(st.timeouts == 0);
  CHECK(st.retransmits == 0);
}

TEST_CASE("test-engine-path-status-receive-drops-from-its-link", "[engine]") {
  EngineLab lab;
  lab.wire().end(0).dropped = 7;
  CHECK(lab.engine->path_status()[0].receive_drops == 7);
}

TEST_CASE("test-engine-deadline-zero-retries-forever", "[engine]") {
  auto opts = fast_options();
  opts.deadline = std::chrono::milliseconds(0);
  EngineLab lab({}, opts);
  lab.target().silent = true;
  std::vector<std::byte> buf(1024);
  std::optional<std::error_code> done;
  lab.engine->async_read(0, buf, [&](std::error_code ec) { done = ec; });
  // Ten simulated minutes: far past the default deadline (60 s), the longest
  // RTO, the path's failure and its probes' backoff (flap_window 30 s).
  lab.advance(std::chrono::minutes(9));
  const auto sent = lab.wire().sent_from(0).size();
  lab.advance(std::chrono::minutes(1));
  CHECK_FALSE(done.has_value());
  CHECK_FALSE(lab.engine->is_down());
  CHECK(lab.wire().sent_from(0).size() > sent);  // still trying in the last minute
  lab.target().silent = false;
  REQUIRE_FALSE(lab.wait(done));
}

TEST_CASE("test-engine-aoe-error-fails-at-once", "[engine]") {
  EngineLab lab;
  lab.target().aoe_error = [](const wire::Frame&) -> std::uint8_t { return 2; };
  std::vector<std::byte> buf(1024);
  auto ec = lab.read(0, buf);
  CHECK(ec == errc::aoe_bad_argument);
  CHECK(to_errno(ec) == EIO);
  CHECK(lab.engine->path_status()[0].retransmits == 0);
  CHECK_FALSE(lab.engine->is_down());
}

TEST_CASE("test-engine-reserved-target-maps-to-eacces", "[engine]") {
  EngineLab lab;
  lab.target().aoe_error = [](const wire::Frame&) -> std::uint8_t { return 6; };
  std::vector<std::byte> buf(1024);
  auto ec = lab.write(0, buf);
  CHECK(ec == errc::aoe_target_reserved);
  // What the NBD client (and the kernel's nbd) sees: a permission error, not
  // a generic EIO, and at once: a reservation is not a fault to retry.
  CHECK(to_errno(ec) == EACCES);
  CHECK(lab.engine->path_status()[0].retransmits == 0);
  CHECK_FALSE(lab.engine->is_down());
}

TEST_CASE("test-engine-ata-error-fails-request-eio", "[engine]") {
  EngineLab lab;
  lab.target().ata_error = [](const wire::Frame& f) -> std::optional<std::uint8_t> {
    if (std::get<wire::AtaArg>(f.arg).lba == 6) return wire::ata::error_unc;
    return std::nullopt;
  };
  std::vector<std::byte> buf(8 * 1024);
  auto ec = lab.read(0, buf);
  CHECK(ec == errc::ata_media_error);
  CHECK(to_errno(ec) == EIO);
  // Other requests are unaffected.
  std::vector<std::byte> ok(2048);
  CHECK_FALSE(lab.read(512 * 100, ok));
}

const std::vector<std::byte> evil(1024, std::byte{0xEE});

TEST_CASE("test-engine-reply-from-other-port-target-or-command-rejected", "[engine]") {
  // An answer to our valid tag, but from a MAC that is not a target port,
  // for another shelf or slot, or as another command.
  const int forgery = GENERATE(0, 1, 2, 3);
  EngineLab lab;
  SilentRead read(lab);
  auto reply = answer(lab.wire().sent_from(0)[0], evil, [&](wire::Header& h) {
    if (forgery == 0) h.shelf = 7;
    if (forgery == 1) h.slot = 9;
    if (forgery == 3) h.src = mac(0x66);
  });
  if (forgery == 2) reply[19] = std::byte{static_cast<unsigned char>(wire::Command::mac_mask)};
  lab.engine->on_frame(lab.wire().end(0), reply);
  CHECK_FALSE(read.done.has_value());
  CHECK(lab.engine->path_status()[0].rejected_replies == 1);
  lab.target().silent = false;
  REQUIRE_FALSE(lab.wait(read.done));
  CHECK(read.buf == std::vector<std::byte>(1024));
}

TEST_CASE("test-engine-answer-to-an-earlier-transmission-on-another-path", "[engine][multipath]") {
  EngineLab lab({}, calm_options(), 1500, 2);
  SilentRead read(lab);
  const unsigned sent_on = lab.wire(0).sent_from(0).empty() ? 1 : 0, other = 1 - sent_on;
  // The frame times out and goes again, to the other port; the first
  // port's answer to the first transmission arrives after that.
  const auto first = lab.wire(sent_on).sent_from(0)[0];
  REQUIRE(lab.run_until([&] { return !lab.wire(other).sent_from(0).empty(); }));
  auto disk = pattern(1024, 30);
  lab.engine->on_frame(lab.wire(sent_on).end(0), answer(first, disk));
  REQUIRE_FALSE(lab.wait(read.done));
  CHECK(read.buf == disk);
  // Neither window grew nor RTT was sampled: the answer is to a
  // transmission that was retransmitted (Karn), on the path that no longer
  // carries the frame.
  auto st = lab.engine->path_status();
  CHECK(st[sent_on].srtt.count() == 0);
  CHECK(st[other].srtt.count() == 0);
}

TEST_CASE("test-engine-stalled-request-fails-at-deadline", "[engine]") {
  auto o = fast_options();
  o.deadline = std::chrono::milliseconds(300);
  FakeTargetOptions t;
  t.buffer_count = 2;  // window 1: one frame at a time
  EngineLab lab(t, o);
  // The NIC goes down just as the first frame's answer arrives: the request
  // is part framed, nothing is in flight, and there is no path to go on.
  FakeLink& link = lab.wire().end(0);
  bool first = true;
  link.set_receiver([&](std::span<const std::byte> f) {
    if (std::exchange(first, false)) lab.engine->set_link_state(link, false);
    lab.engine->on_frame(link, f);
  });
  std::vector<std::byte> buf(8 * 1024);
  std::optional<std::error_code> done;
  lab.engine->async_read(0, buf, [&](std::error_code ec) { done = ec; });
  REQUIRE(lab.run_until([&] { return !first; }));
  // The stall starts at the engine's next tick; 1 ms short of the deadline
  // after the link went down, the request still waits...
  lab.advance(std::chrono::milliseconds(299));
  CHECK_FALSE(done.has_value());
  // ...and within two ticks (at most 50 ms each) of the deadline it fails,
  // though none of its frames timed out.
  REQUIRE(lab.run_until([&] { return done.has_value(); }, std::chrono::milliseconds(101)));
  CHECK(*done == errc::target_down);
  CHECK(lab.wire().sent_from(0).size() == 1);
}

TEST_CASE("test-engine-short-read-reply-rejected", "[engine]") {
  EngineLab lab;
  SilentRead read(lab);
  std::vector<std::byte> half(512, std::byte{0x11});  // one sector where two were asked for
  lab.engine->on_frame(lab.wire().end(0), answer(lab.wire().sent_from(0)[0], half));
  CHECK(lab.engine->path_status()[0].rejected_replies == 1);
  lab.target().silent = false;
  REQUIRE_FALSE(lab.wait(read.done));
}

TEST_CASE("test-engine-request-validation", "[engine]") {
  EngineLab lab;
  std::vector<std::byte> buf(1024);
  auto size = lab.engine->size_bytes();
  CHECK(lab.read(1, buf) == errc::not_aligned);
  CHECK(lab.read(0, std::span(buf).first(100)) == errc::not_aligned);
  CHECK(lab.read(size - 512, buf) == errc::out_of_range);
  CHECK(lab.write(size, buf) == errc::out_of_range);
  CHECK_FALSE(lab.read(0, std::span(buf).first(0)));
  std::vector<std::byte> huge(lab.engine->max_request_bytes() + 512);
  CHECK(lab.read(0, huge) == errc::request_too_large);
  CHECK(lab.wire().sent_from(0).empty());
}

TEST_CASE("test-engine-flush-uses-flush-cache-ext-when-supported", "[engine]") {
  EngineLab lab;
  REQUIRE(lab.engine->can_flush());
  REQUIRE_FALSE(lab.flush());
  CHECK(lab.target().ata_commands == std::vector<std::uint8_t>{wire::ata::flush_cache_ext});
}

TEST_CASE("test-engine-flush-cache-without-ext", "[engine]") {
  FakeTargetOptions t;
  t.flush_ext = false;
  EngineLab lab(t);
  REQUIRE_FALSE(lab.flush());
  CHECK(lab.target().ata_commands == std::vector<std::uint8_t>{wire::ata::flush_cache});
}

TEST_CASE("test-engine-no-flush-support-sends-nothing", "[engine]") {
  FakeTargetOptions t;
  t.flush = t.flush_ext = false;
  EngineLab lab(t);
  CHECK_FALSE(lab.engine->can_flush());
  CHECK_FALSE(lab.flush());
  CHECK(lab.wire().sent_from(0).empty());
}

TEST_CASE("test-engine-lba28-target-uses-lba28-opcodes", "[engine]") {
  FakeTargetOptions t;
  t.lba48 = false;
  EngineLab lab(t);
  auto data = pattern(2048, 14);
  REQUIRE_FALSE(lab.write(512 * 10, data));
  std::vector<std::byte> back(2048);
  REQUIRE_FALSE(lab.read(512 * 10, back));
  CHECK(back == data);
  for (const auto& f : ata_frames(lab.wire().sent_from(0))) {
    const auto& a = std::get<wire::AtaArg>(f.arg);
    CHECK((a.aflags & wire::aflags::extended) == 0);
    CHECK((a.cmd_status == wire::ata::read_sectors || a.cmd_status == wire::ata::write_sectors));
    CHECK((a.lba >> 24 & 0xF0) == 0xE0);  // device register bits in lba3 (docs/aoe-protocol.md §3.3)
  }
}

TEST_CASE("test-engine-many-requests-in-flight-complete-exactly", "[engine]") {
  EngineLab lab({}, fast_options());
  lab.wire().faults_from(0).loss = 0.02;
  auto disk = pattern(lab.target().disk.size(), 16);
  lab.target().disk = disk;
  std::vector<std::vector<std::byte>> bufs(32, std::vector<std::byte>(8 * 1024));
  int done = 0, failed = 0;
  for (std::size_t i = 0; i < bufs.size(); ++i)
    lab.engine->async_read(i * 8 * 1024, bufs[i], [&](std::error_code ec) { ++done; failed += ec ? 1 : 0; });
  REQUIRE(lab.run_until([&] { return done == 32; }));
  CHECK(failed == 0);
  for (std::size_t i = 0; i < bufs.size(); ++i)
    CHECK(std::equal(bufs[i].begin(), bufs[i].end(), disk.begin() + std::ptrdiff_t(i * 8 * 1024)));
  CHECK(lab.engine->in_flight_requests() == 0);
}

TEST_CASE("test-engine-shutdown-fails-in-flight", "[engine]") {
  EngineLab lab;
  lab.target().silent = true;
  std::vector<std::byte> buf(4096);
  std::optional<std::error_code> done;
  lab.engine->async_read(0, buf, [&](std::error_code ec) { done = ec; });
  lab.run_until([&] { return !lab.wire().sent_from(0).empty(); });
  lab.engine->shutdown();
  CHECK(lab.wait(done) == errc::shutting_down);
  CHECK(lab.read(0, buf) == errc::shutting_down);
}
