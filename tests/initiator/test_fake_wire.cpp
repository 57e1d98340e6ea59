// The fake wire's fault knobs (tests/support/fake_link.h) combined: a frame
// that is delayed or travels with latency is still duplicated, and still
// releases the frames held for it.  On simulated time, so each arrival time
// is exact.
#include "tests/support/fake_link.h"

#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/manual_clock.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

struct Arrival {
  std::byte first;  // which frame: the test sends frame n as the byte n
  Duration at;
  bool operator==(const Arrival&) const = default;
};

struct WireLab {
  boost::asio::io_context io;
  ManualClock clock{io};
  Clock::time_point t0 = clock.now();
  FakeWire wire{io, LinkInfo{"a", 1, {2, 0, 0, 0, 0, 1}, 1500}, LinkInfo{"b", 2, {2, 0, 0, 0, 0, 2}, 1500}, 1, &clock};
  std::vector<Arrival> arrivals;

  WireLab() {
    wire.end(1).set_receiver([this](std::span<const std::byte> f) { arrivals.push_back({f[0], clock.now() - t0}); });
  }
  void send(unsigned n) {
    const std::byte frame[] = {std::byte(n), std::byte{0}};
    wire.end(0).send(frame, {});
  }
};

}  // namespace

TEST_CASE("test-fake-wire-delayed-frame-duplicated-and-releases-held", "[fakes]") {
  WireLab lab;
  auto& f = lab.wire.faults_from(0);
  f.hold = {0};
  f.delay[1] = 10ms;
  f.duplicate = {1};
  lab.send(0);  // held until frame 1 goes
  lab.send(1);  // 10 ms late, twice, then frame 0
  lab.clock.settle();
  CHECK(lab.arrivals.empty());
  lab.clock.advance(10ms);
  CHECK(lab.arrivals == std::vector<Arrival>{{std::byte{1}, 10ms}, {std::byte{1}, 10ms}, {std::byte{0}, 10ms}});
}

TEST_CASE("test-fake-wire-latency-with-duplicates", "[fakes]") {
  WireLab lab;
  auto& f = lab.wire.faults_from(0);
  f.latency = 2ms;
  f.duplicate = {0};
  lab.send(0);
  lab.clock.advance(1ms);
  lab.send(1);
  lab.clock.advance(10ms);
  CHECK(lab.arrivals == std::vector<Arrival>{{std::byte{0}, 2ms}, {std::byte{0}, 2ms}, {std::byte{1}, 3ms}});
}
