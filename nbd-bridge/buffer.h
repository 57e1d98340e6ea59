// buffer.h: the payload of one NBD request or reply, and the pool of every
// connection of one Server that payloads come from.
//
// A userspace server in the kernel's I/O path must not need fresh memory to
// make progress: under memory pressure an allocation may wait on
// reclaim that waits on us, and under mlockall every new page is locked
// again.  So the pool keeps what it obtained: a released buffer goes on the
// free list of its size class, the next request of that class takes it
// back, and the steady state asks the system for nothing.  The total held
// never exceeds the budget (ExportOptions::max_buffered_bytes), across all
// connections.  What a burst grew it by goes back once the burst is over
// (shrink): kept for good, one 32 MiB read would cost 32 MiB of RSS forever.
//
// Above the largest class (32 MiB, the maximum payload we advertise), up
// to max_buffer_bytes (64 MiB, the most we accept from a client that never
// learned our maximum, nbd-bridge/protocol.h max_accepted_payload), a
// buffer is obtained for its request alone, outside the budget, one at a
// time over all connections, and given back to the system on release: only
// clients that ignore the advertised maximum send such requests, they wait
// for one another (the first refused is served next, as for the budget),
// and the budget of everyone else is untouched.  So
// payload memory over all connections never exceeds the budget plus
// max_buffer_bytes, and the budget alone while no such request runs.
// One io_context thread; no locks.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <malloc.h>
#include <new>
#include <span>
#include <utility>  // before asio headers, which need std::exchange
#include <vector>

#include <boost/asio/steady_timer.hpp>

namespace aoe::nbd {

class BufferPool;

// Uninitialised bytes: a payload is overwritten in full (by the socket or by
// the target) before anything reads it, so the zeroing std::vector does was a
// wasted pass over every byte moved (11 % of aoe-attach's CPU time writing at
// MTU 9000, by perf).  Goes back to its pool when destroyed.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  ~Buffer() { reset(); }

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> span() noexcept { return {data_, size_}; }
  std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  // Bytes of the pool's budget this buffer holds (its size class).
  std::size_t capacity() const noexcept;

 private:
  friend class BufferPool;
  Buffer(BufferPool* pool, std::byte* data, std::size_t size, unsigned size_class) noexcept
      : pool_(pool), data_(data), size_(size), class_(size_class) {}

  void reset() noexcept;

  BufferPool* pool_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  unsigned class_ = 0;
};

class BufferPool {
 public:
  // Power-of-two classes from 4 KiB to 32 MiB (the largest payload we advertise):
  // at most half of a buffer is slack, and every class is reused.
  static constexpr std::size_t min_class_bytes = 4096;
  static constexpr unsigned class_count = 14;
  static constexpr std::size_t max_class_bytes = min_class_bytes << (class_count - 1);
  // Largest buffer: above max_class_bytes, one of its own (see the top).
  static constexpr std::size_t max_buffer_bytes = 64u << 20;

  // Where memory comes from: new[]'d bytes, or nullptr when there are none.
  using Upstream = std::byte* (*)(std::size_t);
  static std::byte* from_system(std::size_t bytes) noexcept { return new (std::nothrow) std::byte[bytes]; }

  explicit BufferPool(std::size_t budget_bytes, Upstream upstream = &from_system)
      : budget_(budget_bytes), upstream_(upstream) {
    reserve_waiters(64);
  }
  // One waiter per connection at most: with room for all, waiting never allocates.
  void reserve_waiters(std::size_t connections) { waiters_.reserve(connections); }
  ~BufferPool() { give_back_free(held_); }  // every Buffer is gone by now
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  enum class Take {
    ok,
    over_budget,  // wait for a release (notify_on_release), then try again
    no_memory,    // the system has no memory, or `size` exceeds max_buffer_bytes or the budget
  };

  // Budget bytes a buffer of `size` bytes (> 0) holds: its class, or above
  // the classes its size in whole 4 KiB pages.
  static constexpr std::size_t cost_of(std::size_t size) noexcept {
    if (size > max_class_bytes) return (size + min_class_bytes - 1) / min_class_bytes * min_class_bytes;
    return std::bit_ceil(std::max(size, min_class_bytes));
  }

  // Pool bytes one connection may hold: half the budget, or a single
  // buffer of any size the budget allows, so that a client that stops
  // reading its replies pins no more than that.
  std::size_t connection_share() const noexcept { return budget_ / 2; }

  // A buffer of `size` bytes (1 ..= max_buffer_bytes) in `out`.  `who`
  // (a connection) is remembered when it is the first refused for the
  // budget, and until it gets its buffer nobody else may take what it
  // waits for: a large request is not starved by a stream of small ones.
  // The same holds for the buffer above the classes (take_own).
  // Only a claim that fits beside the most one stuck connection can pin is
  // made: a larger one might wait forever, and everyone with it.
  Take take(std::size_t size, Buffer& out, const void* who) noexcept {
    if (size == 0 || size > max_buffer_bytes) return Take::no_memory;
    if (size > max_class_bytes) return take_own(size, out, who);
    if (cost_of(size) > budget_) return Take::no_memory;
    const unsigned c = class_of(size);
    const std::size_t bytes = min_class_bytes << c;
    const std::size_t reserved = claimant_ && claimant_ != who ? claimed_ : 0;
    if (in_use_ + bytes + reserved > budget_) {
      if (!claimant_ && bytes + max_pinned_by_one() <= budget_) {
        claimant_ = who;
        claimed_ = bytes;
      }
      return Take::over_budget;
    }
    const bool was_claimant = claimant_ == who;
    if (was_claimant) claimant_ = nullptr;
    std::byte* p = free_[c];
    if (p) {
      free_[c] = next_free(p);
      low_water_[c] = std::min(low_water_[c], --free_count_[c]);
    } else {
      // Free buffers of other classes make room for this one, if needed.
      if (held_ + bytes > budget_) give_back_free(held_ + bytes - budget_);
      p = upstream_(bytes);
      if (!p) {
        if (was_claimant) wake_waiters();  // those its claim held back
        return Take::no_memory;
      }
      ++system_allocations_;
      held_ += bytes;
    }
    in_use_ += bytes;
    out = Buffer(this, p, size, c);
    return Take::ok;
  }

  // Fills the free lists up to the budget now, one buffer of each class
  // from 4 KiB to `largest` bytes in turn, every page touched: a root storage
  // daemon asks the system for nothing once serving (docs/nbd-protocol.md
  // §5.1).  Returns false when the system had not that much memory.
  bool preallocate(std::size_t largest) noexcept {
    const unsigned top = class_of(std::min(largest, max_class_bytes));
    for (bool added = true; added;) {
      added = false;
      for (unsigned c = 0; c <= top; ++c) {
        const std::size_t bytes = min_class_bytes << c;
        if (held_ + bytes > budget_) continue;
        std::byte* p = upstream_(bytes);
        if (!p) return false;
        std::memset(p, 0, bytes);
        ++system_allocations_;
        held_ += bytes;
        std::memcpy(p, &free_[c], sizeof p);
        free_[c] = p;
        added = true;
      }
    }
    return true;
  }

  // A connection that stops waiting for its claim gives it up, and those
  // it held back try again.
  void withdraw(const void* who) noexcept {
    if (claimant_ != who && own_claimant_ != who) return;
    if (claimant_ == who) claimant_ = nullptr;
    if (own_claimant_ == who) own_claimant_ = nullptr;
    wake_waiters();
  }

  // The timer's waits are cancelled (the wake-up) at the next release.
  void notify_on_release(boost::asio::steady_timer* timer) {
    if (std::find(waiters_.begin(), waiters_.end(), timer) == waiters_.end()) waiters_.push_back(timer);
  }
  void forget(boost::asio::steady_timer* timer) noexcept {
    waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), timer), waiters_.end());
  }

  // Gives back the free buffers no request needed since the last call: each
  // class's fewest free (its low-water mark) were never taken.  Called once
  // per period (the Server's), so a burst's buffers go back one to two
  // periods after it, while a steady load keeps all it uses and allocates
  // nothing.
  void shrink() noexcept {
    const std::size_t before = held_;
    for (unsigned c = 0; c < class_count; ++c) {
      for (std::size_t n = low_water_[c]; n > 0; --n) give_back(c);
      low_water_[c] = free_count_[c];
    }
    if (held_ < before) release_to_system();
  }
  // Gives back every free buffer (no connection will use them soon).
  void shrink_all() noexcept {
    const std::size_t before = held_;
    give_back_free(held_);
    low_water_ = free_count_;
    if (held_ < before) release_to_system();
  }

  // --- observations (status, tests)
  std::size_t budget() const noexcept { return budget_; }
  std::size_t in_use_bytes() const noexcept { return in_use_; }
  std::size_t held_bytes() const noexcept { return held_; }  // in use + free
  std::size_t own_bytes() const noexcept { return own_bytes_; }  // the buffer above the classes, outside the budget
  std::size_t system_allocations() const noexcept { return system_allocations_; }

  // Replaces the source of memory (tests make it fail).
  void set_upstream(Upstream upstream) noexcept { upstream_ = upstream; }

 private:
  friend class Buffer;

  // The most a connection that stopped reading can hold: its share, or
  // one buffer as large as the budget allows (taken while it had no other).
  std::size_t max_pinned_by_one() const noexcept {
    return std::max(connection_share(), std::bit_floor(std::min(budget_, max_class_bytes)));
  }

  static unsigned class_of(std::size_t size) noexcept {
    return static_cast<unsigned>(std::countr_zero(cost_of(size) / min_class_bytes));
  }
  // A free buffer's first bytes link it to the next free one of its class.
  static std::byte* next_free(std::byte* p) noexcept {
    std::byte* next;
    std::memcpy(&next, p, sizeof next);
    return next;
  }

  // A buffer above the classes (class_count as its class, see the top):
  // the one such buffer at a time, outside the budget, to the first
  // connection refused it: a client sending one such request after another
  // cannot keep it from the others.
  // Its holder never claims the next one: it would take every other turn.
  Take take_own(std::size_t size, Buffer& out, const void* who) noexcept {
    if (own_bytes_ > 0 || (own_claimant_ && own_claimant_ != who)) {
      if (!own_claimant_ && own_holder_ != who) own_claimant_ = who;
      return Take::over_budget;  // wait for its release
    }
    const bool was_claimant = own_claimant_ == who;
    own_claimant_ = nullptr;
    const std::size_t bytes = cost_of(size);
    std::byte* p = upstream_(bytes);
    if (!p) {
      if (was_claimant) wake_waiters();  // those its claim held back
      return Take::no_memory;
    }
    own_holder_ = who;
    ++system_allocations_;
    own_bytes_ = bytes;
    out = Buffer(this, p, size, class_count);
    return Take::ok;
  }

  void release(std::byte* p, unsigned c) noexcept {
    if (c == class_count) {  // its own: back to the system at once
      delete[] p;
      own_bytes_ = 0;
      own_holder_ = nullptr;
      release_to_system();
    } else {
      std::memcpy(p, &free_[c], sizeof p);
      free_[c] = p;
      ++free_count_[c];
      in_use_ -= min_class_bytes << c;
    }
    wake_waiters();
  }

  void wake_waiters() noexcept {
    for (auto* timer : waiters_) timer->cancel();
    waiters_.clear();
  }

  // delete[] alone may keep the pages: once a freed buffer was mmap'ed,
  // glibc raises its mmap threshold to that size (up to 32 MiB), so later
  // buffers come from the heap, and free heap pages stay resident until
  // trimmed.  malloc_trim hands every whole free page back.
  static void release_to_system() noexcept { ::malloc_trim(0); }

  // Returns free buffers to the system until `bytes` are returned or none is left.
  void give_back_free(std::size_t bytes) noexcept {
    std::size_t returned = 0;
    for (unsigned c = 0; c < class_count && returned < bytes; ++c) {
      while (free_[c] && returned < bytes) {
        give_back(c);
        returned += min_class_bytes << c;
      }
    }
  }
  // Returns the first free buffer of class `c` (there is one) to the system.
  void give_back(unsigned c) noexcept {
    std::byte* p = free_[c];
    free_[c] = next_free(p);
    delete[] p;
    held_ -= min_class_bytes << c;
    low_water_[c] = std::min(low_water_[c], --free_count_[c]);
  }

  std::size_t budget_;
  Upstream upstream_;
  std::array<std::byte*, class_count> free_{};
  std::array<std::size_t, class_count> free_count_{};  // buffers on each free list
  std::array<std::size_t, class_count> low_water_{};   // the fewest since the last shrink
  std::size_t in_use_ = 0;
  std::size_t held_ = 0;
  std::size_t system_allocations_ = 0;
  std::size_t own_bytes_ = 0;       // the buffer above the classes in use, if any
  const void* own_claimant_ = nullptr;  // the first connection refused it, if still waiting
  const void* own_holder_ = nullptr;    // the connection holding it, if any
  const void* claimant_ = nullptr;  // the first connection refused, if still waiting
  std::size_t claimed_ = 0;         // what it waits for
  std::vector<boost::asio::steady_timer*> waiters_;
};

inline Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::exchange(other.pool_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    class_ = other.class_;
  }
  return *this;
}

inline void Buffer::reset() noexcept {
  if (pool_) pool_->release(data_, class_);
  pool_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

inline std::size_t Buffer::capacity() const noexcept {
  if (!pool_) return 0;
  return class_ < BufferPool::class_count ? BufferPool::min_class_bytes << class_ : BufferPool::cost_of(size_);
}

}  // namespace aoe::nbd
