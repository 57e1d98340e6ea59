// Forged and foreign replies: what another host's answers (seen on a
// flooding segment), a retired port or a restarting target send must never
// complete one of our frames (Engine::on_frame, wire::answers).
#include "initiator/engine.h"

#include <catch2/catch.hpp>

#include "discovery/control.h"
#include "initiator/errors.h"
#include "initiator/tag.h"
#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::byte> foreign(1024, std::byte{0xEE});

// An answer to `request` whose ATA Arg `edit` changes.
std::vector<std::byte> answer_with(const FrameBytes& request, std::span<const std::byte> data,
                                   const std::function<void(wire::AtaArg&)>& edit) {
  wire::Frame req;
  REQUIRE_FALSE(wire::decode(request, req));
  wire::Header h = req.header;
  h.response = true;
  std::swap(h.src, h.dst);
  wire::AtaArg arg = std::get<wire::AtaArg>(req.arg);
  arg.data = data;
  arg.cmd_status = wire::ata::status_drdy;
  arg.sector_count = 0;
  edit(arg);
  std::vector<std::byte> out(wire::ata_header_size + data.size() + wire::min_frame_size);
  out.resize(wire::encode(h, arg, out));
  return out;
}

}  // namespace

TEST_CASE("test-frames-reply-for-another-lba-or-count-rejected", "[frames]") {
  // Another host reading the same target with our tag: its answer is for
  // other sectors (LBA), or another size (Sector Count), or is a write's
  // acknowledgement (AFlags W).
  const int forgery = GENERATE(0, 1, 2, 3, 4);
  FakeTargetOptions t;
  t.lba48 = forgery != 4;  // LBA28: the address is lba0..lba3's low nibble
  EngineLab lab(t);
  SilentRead read(lab, 64 * 512);
  auto reply = answer_with(lab.wire().sent_from(0)[0], foreign, [&](wire::AtaArg& a) {
    if (forgery == 0) a.lba += 40;                    // sectors 104-105
    if (forgery == 1) a.lba -= 1;                     // one before
    if (forgery == 2) a.sector_count = 3;             // more than we asked for
    if (forgery == 3) a.aflags |= wire::aflags::write;  // a write's acknowledgement
    if (forgery == 4) a.lba += 1u << 20;              // LBA28: far away, same low bytes
  });
  lab.engine->on_frame(lab.wire().end(0), reply);
  lab.io.poll();
  CHECK_FALSE(read.done.has_value());
  CHECK(lab.engine->path_status()[0].rejected_replies == 1);
  // The target's own answer, which vblade gives with the request's LBA and
  // a count of 0, is taken.
  lab.target().silent = false;
  auto disk = pattern(1024, 5);
  std::copy(disk.begin(), disk.end(), lab.target().disk.begin() + 64 * 512);
  REQUIRE_FALSE(lab.wait(read.done));
  CHECK(read.buf == disk);
}

TEST_CASE("test-frames-read-answer-is-no-write-acknowledgement", "[frames]") {
  EngineLab lab;
  lab.target().silent = true;
  auto data = pattern(1024, 6);
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { done = ec; });
  REQUIRE(lab.run_until([&] { return !lab.wire().sent_from(0).empty(); }));
  // Another host's read of the same sectors, answered with our tag.
  auto reply = answer_with(lab.wire().sent_from(0)[0], foreign,
                           [](wire::AtaArg& a) { a.aflags &= static_cast<std::uint8_t>(~wire::aflags::write); });
  lab.engine->on_frame(lab.wire().end(0), reply);
  lab.io.poll();
  CHECK_FALSE(done.has_value());
  CHECK(lab.engine->path_status()[0].rejected_replies == 1);
  lab.target().silent = false;
  REQUIRE_FALSE(lab.wait(done));
  CHECK(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
}

TEST_CASE("test-frames-answer-to-a-transmission-elsewhere-rejected", "[frames]") {
  // Port 1 answers a frame that only went to port 0: not an answer to it.
  EngineLab lab({}, calm_options(), 1500, 2);
  SilentRead read(lab);
  const unsigned sent_on = lab.wire(0).sent_from(0).empty() ? 1 : 0, other = 1 - sent_on;
  lab.engine->on_frame(lab.wire(other).end(0), answer(lab.wire(sent_on).sent_from(0)[0], foreign, [&](wire::Header& h) {
                         h.src = mac(std::uint8_t(0x10 + other));
                         h.dst = mac(std::uint8_t(other));
                       }));
  lab.io.poll();
  CHECK_FALSE(read.done.has_value());
  CHECK(lab.engine->path_status()[sent_on].rejected_replies == 1);
  for (auto& p : lab.ports) p.target->silent = false;
  REQUIRE_FALSE(lab.wait(read.done));
  CHECK(read.buf == std::vector<std::byte>(1024));
}

TEST_CASE("test-frames-retired-port-answers-nothing", "[frames]") {
  // A frame went to port 1, then port 1 was quarantined (rediscovery found
  // it serving another disk): its late answer is not taken, the frame is
  // answered through port 0.
  EngineLab lab({}, calm_options(), 1500, 2);
  SilentRead read(lab);
  const unsigned sent_on = lab.wire(0).sent_from(0).empty() ? 1 : 0, other = 1 - sent_on;
  const auto first = lab.wire(sent_on).sent_from(0)[0];
  lab.engine->quarantine(mac(std::uint8_t(0x10 + sent_on)));
  REQUIRE(lab.run_until([&] { return !lab.wire(other).sent_from(0).empty(); }));  // moved at once
  lab.engine->on_frame(lab.wire(sent_on).end(0), answer(first, foreign));
  lab.io.poll();
  CHECK_FALSE(read.done.has_value());
  CHECK(lab.engine->stray_replies() == 0);
  auto rejected = [&] {
    std::uint64_t n = 0;
    for (const auto& st : lab.engine->path_status()) n += st.rejected_replies;
    return n;
  };
  CHECK(rejected() == 1);
  lab.ports[other].target->silent = false;
  auto disk = pattern(1024, 8);
  std::copy(disk.begin(), disk.end(), lab.target(0).disk.begin());
  REQUIRE_FALSE(lab.wait(read.done));  // the retransmission after its timeout
  CHECK(read.buf == disk);
}

TEST_CASE("test-frames-announcement-mid-io-suspends-the-port", "[frames]") {
  // Port 0 restarts mid-transfer (perhaps as another disk) and announces
  // itself; routed as aoe-attach routes frames, Control reports the
  // announcement and the engine suspends the port: its frames move to port
  // 1, the write completes there, and port 0 carries nothing until a
  // rediscovery lists it again.
  EngineLab lab({}, calm_options(), 1500, 2);
  discovery::Control control;
  int announced = 0;
  control.set_announcement([&](const discovery::ConfigInfo&) { ++announced; });
  for (auto& p : lab.ports) {
    FakeLink* link = &p.wire->end(0);
    link->set_receiver([&, link](std::span<const std::byte> f) {
      if (!control.on_frame(*link, f)) lab.engine->on_frame(*link, f);
    });
  }
  auto data = pattern(512 * 1024, 9);
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { done = ec; });
  REQUIRE(lab.run_until([&] { return lab.wire(0).sent_from(0).size() >= 4; }));
  lab.target(0).silent = true;  // restarting: what it held is lost
  // vblade's start-up announcement: broadcast, tag 0 (vblade aoe.c aoead()).
  wire::Header h{.dst = wire::broadcast_mac, .src = mac(0x10), .response = true, .shelf = 1, .slot = 2,
                 .command = wire::Command::query_config, .tag = 0};
  std::array<std::byte, 64> frame{};
  wire::ConfigArg config;
  config.buffer_count = 16;
  config.aoe_version = 1;
  std::size_t n = wire::encode(h, config, frame);
  lab.wire(0).end(1).send(std::span(frame).first(n), {});
  REQUIRE(lab.run_until([&] { return announced == 1; }));
  REQUIRE(lab.engine->path_status().size() == 1);  // suspended: not shown, not used
  const auto sent_before = lab.wire(0).sent_from(0).size();
  lab.target(0).silent = false;
  REQUIRE_FALSE(lab.wait(done));  // long before any timeout: the frames moved
  CHECK(std::equal(data.begin(), data.end(), lab.target(0).disk.begin()));
  CHECK(lab.wire(0).sent_from(0).size() == sent_before);
  // A rediscovery's IDENTIFY agreed: back in use.
  lab.engine->update_paths(lab.engine->target().paths);
  REQUIRE(lab.run_until([&] { return lab.engine->path_status().size() == 2 && !lab.engine->path_status()[0].failed; }, 5s));
  CHECK(lab.engine->path_status()[0].timeouts == 0);  // its frames moved when it announced, not on timeouts
  REQUIRE_FALSE(lab.write(0, pattern(256 * 1024, 10)));
  CHECK(lab.wire(0).sent_from(0).size() > sent_before);
}

TEST_CASE("test-frames-announcement-from-unknown-port-or-other-target-ignored", "[frames]") {
  EngineLab lab({}, calm_options(), 1500, 1);
  std::array<std::byte, 64> frame{};
  auto announce = [&](wire::Mac from, std::uint8_t slot) {
    wire::Header h{.dst = wire::broadcast_mac, .src = from, .response = true, .shelf = 1, .slot = slot,
                   .command = wire::Command::query_config, .tag = 0};
    std::size_t n = wire::encode(h, wire::ConfigArg{}, frame);
    CHECK(lab.engine->on_frame(lab.wire().end(0), std::span(frame).first(n)));
  };
  announce(mac(0x55), 2);  // a new port: rediscovery will IDENTIFY it
  announce(mac(0x10), 3);  // another target behind the same port MAC
  CHECK(lab.engine->path_status().size() == 1);
  REQUIRE_FALSE(lab.write(0, pattern(4096, 11)));
}

TEST_CASE("test-frames-tags-start-at-random-generations", "[frames]") {
  // Two engines (two hosts, or two runs of one) do not send the same tags.
  EngineLab a, b;
  std::vector<std::byte> buf(1024);
  REQUIRE_FALSE(a.read(0, buf));
  REQUIRE_FALSE(b.read(0, buf));
  wire::Header ha, hb;
  REQUIRE_FALSE(wire::decode_header(a.wire().sent_from(0)[0], ha));
  REQUIRE_FALSE(wire::decode_header(b.wire().sent_from(0)[0], hb));
  CHECK(tag::is_engine(ha.tag));
  CHECK(tag::slot_of(ha.tag) == tag::slot_of(hb.tag));  // the same slot...
  CHECK(tag::generation_of(ha.tag) != tag::generation_of(hb.tag));  // ...at another generation (1 in 2^20 alike)
}
