// range_lock.h: arrival-ordered exclusion of overlapping byte ranges.
//
// A writer excludes every overlapping request, a reader only overlapping
// writers, and nobody overtakes an earlier overlapping request (running or
// still waiting): overlapping writes land in the order they arrived, and an
// edge-sector read-modify-write never races another write of that sector.
// The AoE target itself may execute requests in any order (docs/aoe-protocol.md §8.10).
// Single io_context thread, no locks.  Entries are recycled (spare_), so a
// range taken at once (try_acquire) allocates nothing once warm.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <utility>  // before asio/awaitable.hpp, which needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace aoe::nbd {

class RangeLock {
  struct Entry {
    std::uint64_t begin;
    std::uint64_t end;
    bool write;
    bool running = false;
    boost::asio::steady_timer* waiter = nullptr;  // set while suspended
  };
  using Iterator = std::list<Entry>::iterator;

 public:
  // Holds a range until destroyed.
  class Guard {
   public:
    Guard(RangeLock* lock, Iterator it) : lock_(lock), it_(it) {}
    Guard(Guard&& other) noexcept : lock_(other.lock_), it_(other.it_) { other.lock_ = nullptr; }
    Guard& operator=(Guard&&) = delete;
    ~Guard() {
      if (lock_) lock_->release(it_);
    }

   private:
    RangeLock* lock_;
    Iterator it_;
  };

  RangeLock() = default;
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

  // Resumes once no earlier overlapping conflicting request is held or waiting.
  boost::asio::awaitable<Guard> acquire(std::uint64_t begin, std::uint64_t end, bool write);

  // The range at once, held by `held`, if nothing earlier conflicts; else
  // false and no place in the queue (the caller then waits with acquire()).
  bool try_acquire(std::uint64_t begin, std::uint64_t end, bool write, std::optional<Guard>& held);

  // Requests holding or waiting for a range (for tests).
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  Iterator enter(std::uint64_t begin, std::uint64_t end, bool write);
  bool blocked(Iterator it) const noexcept;
  void release(Iterator it) noexcept;

  std::list<Entry> entries_;  // arrival order
  std::list<Entry> spare_;    // released entries, spliced back in by enter()
};

}  // namespace aoe::nbd
