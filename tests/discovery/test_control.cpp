// Control exchanges and discovery end to end over the fake wire.
#include "discovery/control.h"

#include <boost/asio/co_spawn.hpp>
#include <catch2/catch.hpp>

#include "discovery/discover.h"
#include "initiator/errors.h"
#include "initiator/tag.h"
#include "tests/support/fake_target.h"

using namespace aoe;
using namespace aoe::discovery;
using namespace std::chrono_literals;

namespace {

LinkInfo info(std::string name, int ifindex, std::uint8_t mac_last, unsigned mtu = 1500) {
  return LinkInfo{std::move(name), ifindex, {2, 0, 0, 0, 0, mac_last}, mtu};
}

// Runs one coroutine to completion on io.
template <typename T>
T run(boost::asio::io_context& io, Task<T> task) {
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    if (e) std::rethrow_exception(e);
    out = std::move(value);
  });
  io.restart();
  while (!out && io.run_one() > 0) {
  }
  REQUIRE(out);
  return std::move(*out);
}

}  // namespace

TEST_CASE("test-discovery-control-identify-retries") {
  boost::asio::io_context io;
  test::FakeWire wire(io, info("a0", 1, 1), info("t0", 9, 0x10));
  test::FakeTarget target(io, wire.end(1), {.sectors = 8192});
  wire.faults_from(0).drop = {0};  // the first IDENTIFY is lost
  Control control({3, 20ms});
  control.attach(wire.end(0));

  auto r = run(io, control.identify(wire.end(0), wire.end(1).info().mac, 1, 2));
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
  test::FakeWire wire(io, info("a0", 1, 1), info("t0", 9, 0x10));
  test::FakeTarget target(io, wire.end(1));
  Control control({2, 10ms});
  control.attach(wire.end(0));
  const wire::Mac mac = wire.end(1).info().mac;

  target.aoe_error = [](const wire::Frame&) -> std::uint8_t { return 3; };
  CHECK(run(io, control.identify(wire.end(0), mac, 1, 2)).error == errc::aoe_device_unavailable);

  target.aoe_error = nullptr;
  target.silent = true;
  CHECK(run(io, control.identify(wire.end(0), mac, 1, 2)).error == errc::timed_out);
  CHECK(wire.sent_from(0).size() == 1 + 2);
  // Another slot of the same port does not answer for e1.2.
  target.silent = false;
  CHECK(run(io, control.identify(wire.end(0), mac, 1, 5)).error == errc::timed_out);
}

TEST_CASE("test-discovery-control-routing") {
  boost::asio::io_context io;
  test::FakeWire wire(io, info("a0", 1, 1), info("t0", 9, 0x10));
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

  h.tag = tag::engine(3, 7);
  n = wire::encode(h, wire::ConfigArg{}, frame);
  CHECK_FALSE(control.on_frame(wire.end(0), std::span(frame).first(n)));  // the engine's
  h.tag = tag::control(12345);
  n = wire::encode(h, wire::ConfigArg{}, frame);
  CHECK(control.on_frame(wire.end(0), std::span(frame).first(n)));  // ours, even if late
}

TEST_CASE("test-discovery-discover-two-links-and-conflict") {
  boost::asio::io_context io;
  test::FakeWire wa(io, info("a0", 1, 1), info("t0", 9, 0x10));
  test::FakeWire wb(io, info("b0", 2, 2, 9000), info("t1", 10, 0x11, 9000));
  test::FakeWire wc(io, info("c0", 3, 3), info("t2", 11, 0x12));
  test::FakeTarget ta(io, wa.end(1), {.sectors = 4096, .max_sectors = 2});
  test::FakeTarget tb(io, wb.end(1), {.sectors = 4096, .max_sectors = 17});
  test::FakeTarget impostor(io, wc.end(1), {.sectors = 999});
  Control control({3, 20ms});
  std::vector<Link*> links{&wa.end(0), &wb.end(0), &wc.end(0)};
  for (Link* l : links) control.attach(*l);

  auto result = run(io, async_discover(control, links, {.window = 50ms, .only = {}, .expected = {}}));
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

  auto none = run(io, async_discover(control, links, {.window = 20ms, .only = {TargetId{1, 3}}, .expected = {}}));
  CHECK(none.targets.empty());
}
