// timer_service.h: the one clock and the timers the engine decides by time
// with (RTT samples, retransmission timeouts, the deadline, probes, its tick).
//
// SteadyTimers is the real one: std::chrono::steady_clock and
// boost::asio::steady_timer on the io_context.  Tests substitute a clock
// that moves only when told (tests/support/manual_clock.h), so that every
// decision by time is exact and a test of minutes of traffic takes
// milliseconds.  Handlers run on the io_context thread, like every other
// handler of the engine.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "initiator/clock.h"

namespace aoe {

// One-shot and re-armable; its handler is fixed when it is made, so arming
// it allocates nothing.  A cancelled or destroyed timer never runs its
// handler, even one already due.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void arm(Clock::time_point when) = 0;  // replaces an earlier arming
  virtual void cancel() noexcept = 0;
};

class TimerService {
 public:
  virtual ~TimerService() = default;
  virtual Clock::time_point now() = 0;
  virtual std::unique_ptr<Timer> make_timer(std::function<void()> handler) = 0;
  // Runs `handler` once at `when`: fire and forget (test fakes delaying frames).
  virtual void post_at(Clock::time_point when, std::function<void()> handler) = 0;
};

class SteadyTimers final : public TimerService {
 public:
  explicit SteadyTimers(boost::asio::io_context& io) : io_(io) {}
  Clock::time_point now() override { return Clock::now(); }
  std::unique_ptr<Timer> make_timer(std::function<void()> handler) override;
  void post_at(Clock::time_point when, std::function<void()> handler) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace aoe
