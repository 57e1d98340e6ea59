// manual_clock.h: simulated time for the engine and the fakes around it
// (initiator/timer_service.h).  Time moves only in advance() and
// run_next(); each due timer runs at its exact time, in the order of its
// time and then of its arming, and what it makes ready on the io_context
// runs (io.poll()) before time moves on.  Nothing waits on the wall clock:
// the same test does the same thing on any machine, and ten simulated
// minutes take as long as the handlers they run.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>

#include "initiator/timer_service.h"

namespace aoe::test {

class ManualClock final : public TimerService {
 public:
  // Starts an hour past the epoch: the engine takes the epoch for "unset".
  explicit ManualClock(boost::asio::io_context& io, Clock::time_point start = Clock::time_point{} + std::chrono::hours(1))
      : io_(io), time_(start) {}

  Clock::time_point now() override { return time_; }

  std::unique_ptr<Timer> make_timer(std::function<void()> handler) override {
    return std::make_unique<ManualTimer>(*this, std::move(handler));
  }

  void post_at(Clock::time_point when, std::function<void()> handler) override {
    schedule(when, std::move(handler));
  }

  // Runs what is ready on the io_context (no time passes).
  void settle() {
    io_.restart();
    io_.poll();
  }

  // When the earliest timer is due; none if nothing is pending.
  std::optional<Clock::time_point> next_due() const {
    if (due_.empty()) return std::nullopt;
    return due_.begin()->first.first;
  }

  // Moves time to the earliest pending timer and runs it (after what is
  // ready now); false if none is pending.
  bool run_next() {
    settle();
    if (due_.empty()) return false;
    auto first = due_.begin();
    time_ = std::max(time_, first->first.first);
    auto handler = std::move(first->second);
    due_.erase(first);
    handler();
    settle();
    return true;
  }

  // Moves time on by `by`, running every timer due meanwhile at its time.
  void advance(Duration by) { advance_to(time_ + by); }
  void advance_to(Clock::time_point end) {
    settle();
    while (next_due() && *next_due() <= end) run_next();
    time_ = std::max(time_, end);
    settle();
  }

  std::size_t pending() const { return due_.size(); }

 private:
  using Key = std::pair<Clock::time_point, std::uint64_t>;  // due, then order of arming

  class ManualTimer final : public Timer {
   public:
    ManualTimer(ManualClock& clock, std::function<void()> handler) : clock_(clock), handler_(std::move(handler)) {}
    ~ManualTimer() override { cancel(); }
    void arm(Clock::time_point when) override {
      cancel();
      key_ = clock_.schedule(when, [this] {
        key_.reset();
        handler_();
      });
    }
    void cancel() noexcept override {
      if (key_) clock_.due_.erase(*key_);
      key_.reset();
    }

   private:
    ManualClock& clock_;
    std::function<void()> handler_;
    std::optional<Key> key_;  // while armed
  };

  Key schedule(Clock::time_point when, std::function<void()> handler) {
    Key key{when, next_order_++};
    due_.emplace(key, std::move(handler));
    return key;
  }

  boost::asio::io_context& io_;
  Clock::time_point time_;
  std::uint64_t next_order_ = 0;
  std::map<Key, std::function<void()>> due_;
};

}  // namespace aoe::test
