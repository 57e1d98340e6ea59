#include "nbd-bridge/range_lock.h"

#include <iterator>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace aoe::nbd {

namespace asio = boost::asio;

asio::awaitable<RangeLock::Guard> RangeLock::acquire(std::uint64_t begin, std::uint64_t end,
                                                     bool write) {
  auto it = enter(begin, end, write);
  if (!blocked(it)) {
    it->running = true;
    co_return Guard(this, it);
  }
  // Declared before the timer so that, if this coroutine is destroyed while
  // suspended (io_context teardown), the entry is removed after the timer died.
  struct Pending {
    RangeLock* lock;
    Iterator it;
    bool handed_over = false;
    ~Pending() {
      if (handed_over) return;
      it->waiter = nullptr;
      lock->release(it);
    }
  } pending{this, it};
  asio::steady_timer timer(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  it->waiter = &timer;
  while (!it->running) {
    boost::system::error_code ec;  // cancel() is the wake-up
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  it->waiter = nullptr;
  pending.handed_over = true;
  co_return Guard(this, it);
}

bool RangeLock::try_acquire(std::uint64_t begin, std::uint64_t end, bool write, std::optional<Guard>& held) {
  auto it = enter(begin, end, write);
  if (blocked(it)) {
    release(it);  // the last entry: nobody waits behind it
    return false;
  }
  it->running = true;
  held.emplace(this, it);
  return true;
}

RangeLock::Iterator RangeLock::enter(std::uint64_t begin, std::uint64_t end, bool write) {
  if (spare_.empty()) return entries_.insert(entries_.end(), Entry{begin, end, write});
  auto it = spare_.begin();
  entries_.splice(entries_.end(), spare_, it);
  *it = Entry{begin, end, write};
  return it;
}

bool RangeLock::blocked(Iterator it) const noexcept {
  for (auto e = entries_.begin(); e != Iterator(it); ++e) {
    const bool overlap = e->begin < it->end && it->begin < e->end;
    if (overlap && (e->write || it->write)) return true;
  }
  return false;
}

void RangeLock::release(Iterator it) noexcept {
  // Only later entries overlapping the released range can have waited on it
  // (blocked() looks at earlier ones only): the rest need no second look.
  const std::uint64_t begin = it->begin, end = it->end;
  auto e = std::next(it);
  spare_.splice(spare_.begin(), entries_, it);
  for (; e != entries_.end(); ++e) {
    const bool overlap = e->begin < end && begin < e->end;
    if (e->running || !overlap || blocked(e)) continue;
    e->running = true;
    if (e->waiter) e->waiter->cancel();
  }
}

}  // namespace aoe::nbd
