// engine_lab.h: one Engine wired to FakeTargets over FakeWires, with
// synchronous helpers that run the io_context until a request completes.
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

namespace aoe::test {

inline wire::Mac mac(std::uint8_t last) { return {0x02, 0, 0, 0, 0, last}; }

// Timers long enough that a loaded test machine never causes a spurious
// retransmission: for tests that count frames, timeouts or window sizes.
inline EngineOptions calm_options() {
  EngineOptions o;
  o.rtt.initial_rto = std::chrono::milliseconds(400);
  o.rtt.min_rto = std::chrono::milliseconds(250);
  o.rtt.max_rto = std::chrono::seconds(1);
  o.deadline = std::chrono::seconds(20);
  return o;
}

// Short timers so loss recovery takes milliseconds: for tests that check
// only outcomes (data, completions), never counts.
inline EngineOptions fast_options() {
  EngineOptions o;
  o.rtt.initial_rto = std::chrono::milliseconds(20);
  o.rtt.min_rto = std::chrono::milliseconds(5);
  o.rtt.max_rto = std::chrono::milliseconds(100);
  o.deadline = std::chrono::seconds(10);
  return o;
}

// The engine's clock (EngineOptions::now), moved only by the test: what the
// engine decides by time is checked against it, never against the wall.
// The engine's tick timer still runs on real time and makes it look.
struct ManualClock {
  Clock::time_point time = Clock::time_point{} + std::chrono::hours(1);  // the epoch means "unset" to the engine
  std::uint64_t reads = 0;  // how often the engine looked

  std::function<Clock::time_point()> source() {
    return [this] {
      ++reads;
      return time;
    };
  }
  void advance(Duration by) { time += by; }
};

struct EngineLab {
  struct Port {
    std::unique_ptr<FakeWire> wire;
    std::unique_ptr<FakeTarget> target;
  };

  boost::asio::io_context io;
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
                                          /*seed=*/i + 1);
      p.target = std::make_unique<FakeTarget>(io, p.wire->end(1), t, ports.empty() ? nullptr : ports[0].target.get());
      PathInfo path;
      path.link = &p.wire->end(0);
      path.target_mac = mac(std::uint8_t(0x10 + i));
      path.buffer_count = t.buffer_count;
      path.max_sectors = t.max_sectors;
      info.paths.push_back(path);
      ports.push_back(std::move(p));
    }
    engine = std::make_unique<Engine>(io, info, e);
    for (auto& p : ports) {
      FakeLink* link = &p.wire->end(0);
      link->set_receiver([this, link](std::span<const std::byte> f) { engine->on_frame(*link, f); });
    }
  }

  FakeWire& wire(unsigned i = 0) { return *ports[i].wire; }
  FakeTarget& target(unsigned i = 0) { return *ports[i].target; }

  template <typename Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io.run_for(std::chrono::milliseconds(1));
      io.restart();
    }
    return true;
  }

  // Runs until the engine has read `clock` again (its next tick, when idle).
  bool next_look(const ManualClock& clock) {
    const auto seen = clock.reads;
    return run_until([&] { return clock.reads > seen; });
  }

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
