// log::RateLimit (base/log.h), on a clock the test moves: at most
// `burst` events per interval, and the next one let through says how many
// were dropped.
#include "base/log.h"

#include <chrono>

#include <catch2/catch.hpp>

using namespace aoe;
using namespace std::chrono_literals;

namespace {
const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
}

TEST_CASE("test-log-rate-limit-lets-a-burst-through", "[log]") {
  log::RateLimit limit(3, 5s);
  unsigned long suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    CHECK(limit.allow(suppressed, t0 + std::chrono::milliseconds(i)));
    CHECK(suppressed == 0);
  }
  // The rest of the interval: dropped, however many.
  for (int i = 0; i < 100; ++i) CHECK_FALSE(limit.allow(suppressed, t0 + 4999ms));
}

TEST_CASE("test-log-rate-limit-reports-suppressed-count", "[log]") {
  log::RateLimit limit(2, 5s);
  unsigned long suppressed = 0;
  REQUIRE(limit.allow(suppressed, t0));
  REQUIRE(limit.allow(suppressed, t0 + 1s));
  for (int i = 0; i < 7; ++i) REQUIRE_FALSE(limit.allow(suppressed, t0 + 2s));
  // A new interval: a new burst, and its first event carries the count...
  REQUIRE(limit.allow(suppressed, t0 + 5s));
  CHECK(suppressed == 7);
  // ...once.
  REQUIRE(limit.allow(suppressed, t0 + 6s));
  CHECK(suppressed == 0);
  CHECK_FALSE(limit.allow(suppressed, t0 + 9999ms));
  REQUIRE(limit.allow(suppressed, t0 + 10s));
  CHECK(suppressed == 1);
}

TEST_CASE("test-log-rate-limit-interval-starts-at-first-event", "[log]") {
  // The window opens with the first event, not at a fixed phase: an event
  // 4.9 s after it is still in the first interval.
  log::RateLimit limit(1, 5s);
  unsigned long suppressed = 0;
  REQUIRE(limit.allow(suppressed, t0 + 3s));
  CHECK_FALSE(limit.allow(suppressed, t0 + 7900ms));
  CHECK(limit.allow(suppressed, t0 + 8s));
  CHECK(suppressed == 1);
}

TEST_CASE("test-log-rate-limit-default-clock", "[log]") {
  // The one-argument form reads the steady clock: with a burst of 2 an hour,
  // 2 of 3 events in a row get through, whenever the test runs.
  log::RateLimit limit(2, std::chrono::seconds(3600));
  unsigned long suppressed = 0;
  CHECK(limit.allow(suppressed));
  CHECK(limit.allow(suppressed));
  CHECK_FALSE(limit.allow(suppressed));
}
