// The timer service (initiator/timer_service.h): the real one on the
// io_context, and the simulated clock every engine test runs on
// (tests/support/manual_clock.h).  No test here waits: the real timers are
// armed for times already past, or cancelled.
#include "initiator/timer_service.h"

#include <vector>

#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include "tests/support/manual_clock.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

TEST_CASE("test-timer-service-steady-timer-runs-once-when-due", "[timer]") {
  boost::asio::io_context io;
  SteadyTimers timers(io);
  int runs = 0;
  auto timer = timers.make_timer([&] { ++runs; });
  timer->arm(timers.now() + 1h);
  timer->arm(timers.now());  // replaces the hour
  io.run();                  // returns: nothing is left pending
  CHECK(runs == 1);
  timer->arm(timers.now());
  io.restart();
  io.run();
  CHECK(runs == 2);
}

TEST_CASE("test-timer-service-steady-timer-cancelled-or-destroyed-never-runs", "[timer]") {
  boost::asio::io_context io;
  SteadyTimers timers(io);
  int runs = 0;
  auto cancelled = timers.make_timer([&] { ++runs; });
  auto destroyed = timers.make_timer([&] { ++runs; });
  cancelled->arm(timers.now());
  destroyed->arm(timers.now());
  cancelled->cancel();
  destroyed.reset();
  io.run();
  CHECK(runs == 0);
  // Two timers due together have both expiries queued (as successes) before
  // either handler runs; whichever runs first cancels the other.
  std::unique_ptr<Timer> a, b;
  a = timers.make_timer([&] { ++runs; b->cancel(); });
  b = timers.make_timer([&] { ++runs; a->cancel(); });
  a->arm(timers.now());
  b->arm(timers.now());
  io.restart();
  io.run();
  CHECK(runs == 1);
  bool posted = false;
  timers.post_at(timers.now(), [&] { posted = true; });
  io.restart();
  io.run();
  CHECK(posted);
}

TEST_CASE("test-timer-service-manual-clock-runs-timers-at-their-time-in-order", "[timer]") {
  boost::asio::io_context io;
  ManualClock clock(io);
  const auto t0 = clock.now();
  std::vector<std::pair<int, Duration>> ran;
  auto record = [&](int id) { return [&, id] { ran.emplace_back(id, clock.now() - t0); }; };
  auto a = clock.make_timer(record(1));
  auto b = clock.make_timer(record(2));
  auto c = clock.make_timer(record(3));
  a->arm(t0 + 30ms);
  b->arm(t0 + 10ms);
  c->arm(t0 + 10ms);  // same time as b, armed after it: runs after it
  clock.post_at(t0 + 20ms, record(4));
  clock.post_at(t0 + 5ms, [&] { boost::asio::post(io, record(5)); });  // what a timer posts runs at its time
  clock.advance(25ms);
  CHECK(ran == std::vector<std::pair<int, Duration>>{{5, 5ms}, {2, 10ms}, {3, 10ms}, {4, 20ms}});
  CHECK(clock.now() - t0 == 25ms);
  CHECK(clock.pending() == 1);
  a->cancel();
  CHECK_FALSE(clock.next_due());
  CHECK_FALSE(clock.run_next());
  CHECK(clock.now() - t0 == 25ms);
}

TEST_CASE("test-timer-service-manual-clock-timer-rearmed-from-its-handler", "[timer]") {
  // The engine's tick re-arms itself from its handler: advance() runs each
  // arming that falls within the span, and none beyond it.
  boost::asio::io_context io;
  ManualClock clock(io);
  int ticks = 0;
  std::unique_ptr<Timer> tick;
  tick = clock.make_timer([&] {
    ++ticks;
    tick->arm(clock.now() + 50ms);
  });
  tick->arm(clock.now() + 50ms);
  clock.advance(1s);
  CHECK(ticks == 20);
  CHECK(clock.run_next());
  CHECK(ticks == 21);
  tick.reset();  // destroyed while armed: nothing left to run
  CHECK_FALSE(clock.run_next());
}
