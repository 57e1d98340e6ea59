#include "initiator/timer_service.h"

#include <cstdint>

#include <boost/asio/steady_timer.hpp>

#include "initiator/handler_memory.h"

namespace aoe {
namespace {

class SteadyTimer final : public Timer {
 public:
  SteadyTimer(boost::asio::io_context& io, std::function<void()> handler) : timer_(io), handler_(std::move(handler)) {}
  ~SteadyTimer() override { cancel(); }

  void arm(Clock::time_point when) override {
    timer_.expires_at(when);  // cancels a pending wait
    // Memory of its own: Asio's one recycled block per thread is then left
    // to the NBD sessions' waits, which would otherwise allocate whenever a
    // tick holds it (tests/nbd-bridge/request_allocations.cpp).
    timer_.async_wait(with_memory(memory_, [this, generation = generation_, armed = ++*generation_](
                                               const boost::system::error_code& ec) {
      // An expiry already queued when the timer was cancelled, re-armed or
      // destroyed carries no error: the generation it shares says so.
      if (ec || *generation != armed) return;
      handler_();
    }));
  }

  void cancel() noexcept override {
    ++*generation_;
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  std::function<void()> handler_;
  std::shared_ptr<std::uint64_t> generation_ = std::make_shared<std::uint64_t>(0);  // of the latest arming
  std::shared_ptr<HandlerMemory> memory_ = std::make_shared<HandlerMemory>();  // outlives us in a late handler
};

}  // namespace

std::unique_ptr<Timer> SteadyTimers::make_timer(std::function<void()> handler) {
  return std::make_unique<SteadyTimer>(io_, std::move(handler));
}

void SteadyTimers::post_at(Clock::time_point when, std::function<void()> handler) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, when);
  timer->async_wait([timer, handler = std::move(handler)](const boost::system::error_code& ec) {
    if (!ec) handler();
  });
}

}  // namespace aoe
