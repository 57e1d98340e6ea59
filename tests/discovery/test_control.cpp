// Control exchanges and discovery end to end over the fake wire.
#include "discovery/control.h"

#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include "discovery/discover.h"
#include "initiator/errors.h"
#include "initiator/tag.h"
#include "tests/support/fake_target.h"
#include "tests/support/run_task.h"

using namespace aoe;
using namespace aoe::discovery;
using namespace std::chrono_literals;

namespace {

// Answers every Query Config on its link with `count` forged answers for
// e1.2 from distinct MACs, each twice (a resend's duplicates).
struct Flooder {
  Flooder(test::FakeLink& on, unsigned count) : link(on) {
    link.set_receiver([this, count](std::span<const std::byte> raw) {
      wire::Header req;
      if (wire::decode_header(raw, req) || req.response || req.command != wire::Command::query_config) return;
      ++queries;
      std::array<std::byte, 64> out{};
      for (unsigned i = 0; i < count; ++i) {
        wire::Header h{.dst = req.src, .src = {0x0a, 0, 0, std::uint8_t(i >> 16), std::uint8_t(i >> 8), std::uint8_t(i)},
                       .response = true, .shelf = 1, .slot = 2, .command = wire::Command::query_config,
                       .tag = req.tag};
        wire::ConfigArg config;
        config.buffer_count = 16;
        config.aoe_version = 1;
        std::size_t n = wire::encode(h, config, out);
        for (int copy = 0; copy < 2; ++copy) link.send(std::span(out).first(n), {});
      }
    });
  }
  test::FakeLink& link;
  unsigned queries = 0;
};

std::size_t identifies(const std::vector<test::FrameBytes>& sent) {
  std::size_t n = 0;
  for (const auto& f : sent) {
    wire::Header h;
    if (!wire::decode_header(f, h) && h.command == wire::Command::ata) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("test-discovery-control-identify-retries") {
  boost::asio::io_context io;
  test::FakeWire wire(io, test::link_info("a0", 1, 1), test::link_info("t0", 9, 0x10));
  test::FakeTarget target(io, wire.end(1), {.sectors = 8192});
  wire.faults_from(0).drop = {0};  // the first IDENTIFY is lost
  Control control({3, 20ms});
  control.attach(wire.end(0));

  auto r = test::run_task(io, control.identify(wire.end(0), wire.end(1).info().mac, 1, 2));
  REQUIRE(!r.error);
  CHECK(r.value.sectors == 8192);
  CHECK(wire.sent_from(0).size() == 2);
  wire::Header h;
  REQUIRE(!wire::decode_header(wire.sent_from(0)[0], h));
  CHECK(tag::is_control(h.tag));
  CHECK(wire.sent_from(0)[0].size() >= wire::min_frame_size);
}

TEST_CASE("test-discovery-control-timeout-and-errors") {
  boost::asio::io_context io;
  test::FakeWire wire(io, test::link_info("a0", 1, 1), test::link_info("t0", 9, 0x10));
  test::FakeTarget target(io, wire.end(1));
  Control control({2, 10ms});
  control.attach(wire.end(0));
  const wire::Mac mac = wire.end(1).info().mac;

  target.aoe_error = [](const wire::Frame&) -> std::uint8_t { return 3; };
  CHECK(test::run_task(io, control.identify(wire.end(0), mac, 1, 2)).error == errc::aoe_device_unavailable);

  target.aoe_error = nullptr;
  target.silent = true;
  // Counted from here: a loaded host may have delayed the answer above past
  // its 10 ms and made it send twice; a silent target gets both attempts.
  const auto before = wire.sent_from(0).size();
  CHECK(test::run_task(io, control.identify(wire.end(0), mac, 1, 2)).error == errc::timed_out);
  CHECK(wire.sent_from(0).size() - before == 2);
  // Another slot of the same port does not answer for e1.2.
  target.silent = false;
  CHECK(test::run_task(io, control.identify(wire.end(0), mac, 1, 5)).error == errc::timed_out);
}

TEST_CASE("test-discovery-control-routing") {
  boost::asio::io_context io;
  test::FakeWire wire(io, test::link_info("a0", 1, 1), test::link_info("t0", 9, 0x10));
  Control control;
  std::vector<ConfigInfo> announced;
  control.set_announcement([&](const ConfigInfo& c) { announced.push_back(c); });

  std::array<std::byte, 64> frame{};
  wire::Header h;
  h.response = true;
  h.shelf = 4;
  h.slot = 1;
  h.command = wire::Command::query_config;
  h.src = {2, 0, 0, 0, 0, 0x10};
  wire::ConfigArg config;
  config.buffer_count = 8;
  std::size_t n = wire::encode(h, config, frame);
  // tag 0: an announcement, reported and left to the engine too (it
  // suspends the port until IDENTIFY agrees again)
  CHECK_FALSE(control.on_frame(wire.end(0), std::span(frame).first(n)));
  REQUIRE(announced.size() == 1);
  CHECK(announced[0].shelf == 4);
  CHECK(announced[0].buffer_count == 8);
  CHECK(announced[0].link == &wire.end(0));
  // vblade's own announcements carry version 0 (docs/aoe-protocol.md §2.6):
  // the same; any other frame of version 0 is dropped.
  frame[14] = std::byte{0x08};
  CHECK_FALSE(control.on_frame(wire.end(0), std::span(frame).first(n)));
  REQUIRE(announced.size() == 2);
  CHECK(announced[1].shelf == 4);
  h.command = wire::Command::ata;
  auto ata_n = wire::encode(h, wire::ata_read(0, 1, true), frame);
  frame[14] = std::byte{0x08};
  CHECK_FALSE(control.on_frame(wire.end(0), std::span(frame).first(ata_n)));
  CHECK(announced.size() == 2);
  h.command = wire::Command::query_config;

  h.tag = tag::engine(3, 7);
  n = wire::encode(h, wire::ConfigArg{}, frame);
  CHECK_FALSE(control.on_frame(wire.end(0), std::span(frame).first(n)));  // the engine's
  h.tag = tag::control(12345);
  n = wire::encode(h, wire::ConfigArg{}, frame);
  CHECK(control.on_frame(wire.end(0), std::span(frame).first(n)));  // ours, even if late
}

TEST_CASE("test-discovery-discover-two-links-and-conflict") {
  boost::asio::io_context io;
  test::FakeWire wa(io, test::link_info("a0", 1, 1), test::link_info("t0", 9, 0x10));
  test::FakeWire wb(io, test::link_info("b0", 2, 2, 9000), test::link_info("t1", 10, 0x11, 9000));
  test::FakeWire wc(io, test::link_info("c0", 3, 3), test::link_info("t2", 11, 0x12));
  test::FakeTarget ta(io, wa.end(1), {.sectors = 4096, .max_sectors = 2});
  test::FakeTarget tb(io, wb.end(1), {.sectors = 4096, .max_sectors = 17});
  test::FakeTarget impostor(io, wc.end(1), {.sectors = 999});
  Control control({3, 20ms});
  std::vector<Link*> links{&wa.end(0), &wb.end(0), &wc.end(0)};
  for (Link* l : links) control.attach(*l);

  auto result = test::run_task(io, async_discover(control, links, {.window = 50ms, .only = {}, .expected = {}}));
  REQUIRE(result.targets.size() == 1);
  const TargetInfo& t = result.targets[0];
  CHECK(t.name() == "e1.2");
  CHECK(t.identity.sectors == 4096);
  REQUIRE(t.paths.size() == 2);
  CHECK(t.paths[0].link == &wa.end(0));
  CHECK(t.paths[0].target_mac == wa.end(1).info().mac);
  CHECK(t.paths[1].link == &wb.end(0));
  CHECK(t.paths[1].max_sectors == 17);
  CHECK(t.paths[1].buffer_count == 16);
  CHECK(t.payload_sectors() == 2);  // the 1500-byte path limits the target
  REQUIRE(result.conflicts.size() == 1);
  CHECK(result.conflicts[0].mac == wc.end(1).info().mac);
  CHECK(result.conflicts[0].found.sectors == 999);

  auto none = test::run_task(io, async_discover(control, links, {.window = 20ms, .only = {TargetId{1, 3}}, .expected = {}}));
  CHECK(none.targets.empty());
}

// A flood of forged Query Config answers: discovery keeps a bounded number
// of them and starts a bounded number of IDENTIFYs, and still finds the
// real target.
TEST_CASE("test-frames-discovery-flood-bounded", "[frames]") {
  boost::asio::io_context io;
  test::FakeWire real(io, test::link_info("a0", 1, 1), test::link_info("t0", 9, 0x10));
  test::FakeWire flooded(io, test::link_info("b0", 2, 2), test::link_info("x0", 10, 0x20));
  test::FakeTarget target(io, real.end(1), {.sectors = 4096});
  Flooder flooder(flooded.end(1), 10000);
  Control control({3, 10ms});
  std::vector<Link*> links{&real.end(0), &flooded.end(0)};
  for (Link* l : links) control.attach(*l);

  SECTION("the answers one exchange keeps") {
    auto answers = test::run_task(io, control.query_config_broadcast(links, 30ms, 1, 2));
    CHECK(flooder.queries == 3);
    CHECK(answers.size() == ControlTiming{}.max_answers);
    CHECK(answers.front().link == &real.end(0));  // it came first, and was kept
  }
  SECTION("the IDENTIFYs discovery starts, and the target it still finds") {
    auto result = test::run_task(io, async_discover(control, links, {.window = 30ms, .only = {TargetId{1, 2}}, .expected = {}}));
    DiscoverOptions defaults;
    // Each port's IDENTIFY is sent up to `tries` times.
    CHECK(identifies(flooded.sent_from(0)) <= (defaults.max_ports_per_target - 1) * 3);
    CHECK(identifies(flooded.sent_from(0)) > 0);
    REQUIRE(result.targets.size() == 1);
    REQUIRE(result.targets[0].paths.size() == 1);
    CHECK(result.targets[0].paths[0].target_mac == real.end(1).info().mac);
    CHECK(result.targets[0].identity.sectors == 4096);
  }
}
