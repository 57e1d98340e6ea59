// engine_lab.h: one Engine wired to FakeTargets over FakeWires, all on one
// simulated clock (tests/support/manual_clock.h), with synchronous helpers
// that run the io_context and move the clock until a request completes.
// No test here waits on the wall clock: time moves from one timer to the
// next as soon as nothing else is ready.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "initiator/engine.h"
#include "initiator/identify.h"
#include "tests/support/fake_link.h"
#include "tests/support/fake_target.h"
#include "tests/support/manual_clock.h"

namespace aoe::test {

// Timers long compared with the fake wire's latency: for tests that count
// frames, timeouts or window sizes.
inline EngineOptions calm_options() {
  EngineOptions o;
  o.rtt.initial_rto = std::chrono::milliseconds(400);
  o.rtt.min_rto = std::chrono::milliseconds(250);
  o.rtt.max_rto = std::chrono::seconds(1);
  o.deadline = std::chrono::seconds(20);
  return o;
}

// Short timers so loss recovery takes few ticks: for tests that check
// mostly outcomes (data, completions).
inline EngineOptions fast_options() {
  EngineOptions o;
  o.rtt.initial_rto = std::chrono::milliseconds(20);
  o.rtt.min_rto = std::chrono::milliseconds(5);
  o.rtt.max_rto = std::chrono::milliseconds(100);
  o.deadline = std::chrono::seconds(10);
  return o;
}

struct EngineLab {
  struct Port {
    std::unique_ptr<FakeWire> wire;
    std::unique_ptr<FakeTarget> target;
  };

  boost::asio::io_context io;
  ManualClock clock{io};
  std::vector<Port> ports;
  std::unique_ptr<Engine> engine;

  // `paths` wires, each from our NIC i (MAC ...:0i) to its own target port
  // (MAC ...:1i); every port serves the first port's disk.
  explicit EngineLab(FakeTargetOptions t = {}, EngineOptions e = calm_options(), unsigned mtu = 1500,
                     unsigned paths = 1) {
    t.max_sectors = static_cast<std::uint8_t>(std::min(255u, (mtu - 36) / 512));
    TargetInfo info;
    info.shelf = t.shelf;
    info.slot = t.slot;
    auto id = make_identify(t.sectors, t.lba48, t.flush, t.flush_ext);
    REQUIRE_FALSE(parse_identify(id, info.identity));
    for (unsigned i = 0; i < paths; ++i) {
      Port p;
      p.wire = std::make_unique<FakeWire>(io, LinkInfo{"eth" + std::to_string(i), int(i + 1), mac(std::uint8_t(i)), mtu},
                                          LinkInfo{"tgt" + std::to_string(i), int(i + 10), mac(std::uint8_t(0x10 + i)), mtu},
                                          /*seed=*/i + 1, &clock);
      p.target = std::make_unique<FakeTarget>(io, p.wire->end(1), t, ports.empty() ? nullptr : ports[0].target.get());
      PathInfo path;
      path.link = &p.wire->end(0);
      path.target_mac = mac(std::uint8_t(0x10 + i));
      path.buffer_count = t.buffer_count;
      path.max_sectors = t.max_sectors;
      info.paths.push_back(path);
      ports.push_back(std::move(p));
    }
    engine = std::make_unique<Engine>(io, info, on_clock(e));
    for (auto& p : ports) {
      FakeLink* link = &p.wire->end(0);
      link->set_receiver([this, link](std::span<const std::byte> f) { engine->on_frame(*link, f); });
    }
  }

  FakeWire& wire(unsigned i = 0) { return *ports[i].wire; }
  FakeTarget& target(unsigned i = 0) { return *ports[i].target; }

  // `o` on this lab's clock, for an engine a test makes itself.
  EngineOptions on_clock(EngineOptions o) {
    o.timers = &clock;
    return o;
  }

  // Runs handlers and moves the clock from timer to timer until `pred`
  // holds; false if it still does not after `limit` of simulated time (the
  // clock then stands at the limit) or when nothing is left to happen.
  template <typename Pred>
  bool run_until(Pred pred, Duration limit = std::chrono::seconds(10)) {
    const auto end = clock.now() + limit;
    for (;;) {
      clock.settle();
      if (pred()) return true;
      if (!clock.next_due() || *clock.next_due() > end) {
        clock.advance_to(end);
        return pred();
      }
      clock.run_next();
    }
  }

  // Lets `span` of simulated time pass, every timer in it running.
  void advance(Duration span) { clock.advance(span); }

  std::error_code wait(std::optional<std::error_code>& result) {
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }

  std::error_code read(std::uint64_t offset, std::span<std::byte> data) {
    std::optional<std::error_code> r;
    engine->async_read(offset, data, [&](std::error_code ec) { r = ec; });
    return wait(r);
  }
  std::error_code write(std::uint64_t offset, std::span<const std::byte> data) {
    std::optional<std::error_code> r;
    engine->async_write(offset, data, [&](std::error_code ec) { r = ec; });
    return wait(r);
  }
  std::error_code flush() {
    std::optional<std::error_code> r;
    engine->async_flush([&](std::error_code ec) { r = ec; });
    return wait(r);
  }
};

// Starts a one-frame read (of `offset`) against targets that stay silent
// until told.
struct SilentRead {
  explicit SilentRead(EngineLab& lab, std::uint64_t offset = 0) {
    for (auto& p : lab.ports) p.target->silent = true;
    lab.engine->async_read(offset, buf, [this](std::error_code ec) { done = ec; });
    REQUIRE(lab.run_until([&] {
      return std::any_of(lab.ports.begin(), lab.ports.end(), [](auto& p) { return !p.wire->sent_from(0).empty(); });
    }));
  }
  std::vector<std::byte> buf = std::vector<std::byte>(1024);
  std::optional<std::error_code> done;
};

inline std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = std::byte(x);
  }
  return v;
}

// Frames the initiator sent that carry an ATA command (decoded).
inline std::vector<wire::Frame> ata_frames(const std::vector<FrameBytes>& sent) {
  std::vector<wire::Frame> out;
  for (const auto& f : sent) {
    wire::Frame d;
    if (!wire::decode(f, d) && d.header.command == wire::Command::ata) out.push_back(d);
  }
  return out;
}

// A target's successful answer to `request` (a frame the engine sent) with
// `data`, its header changed by `edit`: for what a real target would not send.
inline std::vector<std::byte> answer(const FrameBytes& request, std::span<const std::byte> data,
                                     const std::function<void(wire::Header&)>& edit = {}) {
  wire::Frame req;
  REQUIRE_FALSE(wire::decode(request, req));
  wire::Header h = req.header;
  h.response = true;
  std::swap(h.src, h.dst);
  if (edit) edit(h);
  wire::AtaArg arg = std::get<wire::AtaArg>(req.arg);
  arg.data = data;
  arg.cmd_status = wire::ata::status_drdy;
  std::vector<std::byte> out(wire::ata_header_size + data.size() + wire::min_frame_size);
  out.resize(wire::encode(h, arg, out));
  return out;
}

}  // namespace aoe::test
