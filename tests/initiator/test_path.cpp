// RTT estimation and the congestion window, alone.
#include "initiator/path.h"

#include <catch2/catch.hpp>

using namespace aoe;
using namespace std::chrono_literals;

TEST_CASE("test-path-rto-starts-at-initial-value", "[path]") {
  RttEstimator r;
  CHECK(r.rto() == 200ms);
  CHECK_FALSE(r.has_sample());
}

TEST_CASE("test-path-rto-follows-jacobson-karels", "[path]") {
  RttLimits limits;
  limits.min_rto = 1ms;
  RttEstimator r(limits);
  r.sample(10ms);
  CHECK(r.srtt() == 10ms);
  CHECK(r.rttvar() == 5ms);
  CHECK(r.rto() == 30ms);  // srtt + 4 * rttvar
  r.sample(10ms);
  CHECK(r.srtt() == 10ms);
  CHECK(r.rttvar() == 3750us);
  for (int i = 0; i < 200; ++i) r.sample(2ms);
  CHECK(r.srtt() < 2100us);
  CHECK(r.rto() < 3ms);
}

TEST_CASE("test-path-rto-clamped-and-backs-off", "[path]") {
  RttEstimator r;  // min 10 ms, max 4 s
  r.sample(100us);
  CHECK(r.rto() == 10ms);
  r.on_timeout();
  CHECK(r.rto() == 20ms);
  r.on_timeout();
  CHECK(r.rto() == 40ms);
  for (int i = 0; i < 30; ++i) r.on_timeout();
  CHECK(r.rto() == 4s);
  r.sample(100us);  // a clean answer ends the backoff
  CHECK(r.rto() == 10ms);
}

TEST_CASE("test-path-window-slow-start-then-additive", "[path]") {
  Window w(64);
  CHECK(w.size() == 32);
  for (int i = 0; i < 32; ++i) w.on_ack();
  CHECK(w.size() == 64);  // slow start: +1 per ack up to the threshold (the cap)
  for (int i = 0; i < 1000; ++i) w.on_ack();
  CHECK(w.size() == 64);  // never above Buffer Count
}

TEST_CASE("test-path-window-loss-halves-once-per-episode", "[path]") {
  Window w(32);
  for (int i = 0; i < 40; ++i) w.on_ack();
  REQUIRE(w.size() == 32);
  w.on_loss(100, 140);
  CHECK(w.size() == 16);
  w.on_loss(120, 141);  // sent before the reaction: same episode
  CHECK(w.size() == 16);
  w.on_loss(140, 160);  // sent after it: a new loss
  CHECK(w.size() == 8);
  for (int i = 0; i < 10; ++i) w.on_loss(1000 + 100 * std::uint64_t(i), 1050 + 100 * std::uint64_t(i));
  CHECK(w.size() == 1);  // never below one
  for (int i = 0; i < 8; ++i) w.on_ack();
  CHECK(w.size() == 4);  // congestion avoidance: +1 per window of acks (1, 2, 2.5, 2.9, ...), not +1 per ack
}

TEST_CASE("test-path-window-cap-follows-buffer-count", "[path]") {
  Window w(16);
  for (int i = 0; i < 20; ++i) w.on_ack();
  w.set_cap(4);
  CHECK(w.size() == 4);
  CHECK(Window(1).size() == 1);
  CHECK(Window(0).size() == 1);
}
