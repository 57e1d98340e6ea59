// memory_device.h: an in-memory aoe::BlockDevice for tests, with fault knobs.
//
// Completions are always asynchronous (posted or after a timer), like the
// engine's.  A read copies out and a write lands only at completion time, so
// two overlapping operations in flight together can really lose data; the
// device also counts such overlaps (max_conflicting_overlap), which is how a
// test proves its user serialises them.  Misaligned, out-of-range or oversized
// requests fail as the engine fails them (errc::not_aligned, ...).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "initiator/block_device.h"
#include "initiator/errors.h"

namespace aoe::test {

class MemoryDevice : public BlockDevice {
 public:
  MemoryDevice(boost::asio::io_context& io, std::uint64_t size, bool can_flush = true,
               std::size_t max_request = 32u << 20)
      : io_(io), data_(size), can_flush_(can_flush), max_request_(max_request) {}

  // --- knobs
  std::chrono::microseconds delay{0};   // every operation takes at least this long
  std::chrono::microseconds jitter{0};  // plus up to this much more: reorders completions

  // The `n`th operation from now (1 = the next; reads, writes and flushes
  // count) fails with `error` and changes nothing.
  void fail_op(std::uint64_t n, std::error_code error) {
    fail_at_ = ops + n;
    fail_error_ = error;
  }

  // --- observations
  std::vector<std::byte>& data() noexcept { return data_; }
  std::uint64_t ops = 0, reads = 0, writes = 0, flushes = 0, rejected = 0;
  unsigned in_flight = 0, max_in_flight = 0;
  // Most operations in flight at once that overlap one another with at least
  // one writing (0 when every conflicting pair was serialised).
  unsigned max_conflicting_overlap = 0;

  // --- BlockDevice
  std::uint64_t size_bytes() const noexcept override { return data_.size(); }
  bool can_flush() const noexcept override { return can_flush_; }
  std::size_t max_request_bytes() const noexcept override { return max_request_; }

  void async_read(std::uint64_t offset, std::span<std::byte> out, Completion done) override {
    ++reads;
    start(offset, out.size(), false, std::move(done), [this, offset, out] {
      std::memcpy(out.data(), data_.data() + offset, out.size());
    });
  }

  void async_write(std::uint64_t offset, std::span<const std::byte> in, Completion done) override {
    ++writes;
    start(offset, in.size(), true, std::move(done), [this, offset, in] {
      std::memcpy(data_.data() + offset, in.data(), in.size());
    });
  }

  void async_flush(Completion done) override {
    ++flushes;
    start(0, 0, false, std::move(done), [] {});
  }

 private:
  struct Active {
    std::uint64_t id, begin, end;
    bool write;
  };

  template <typename Effect>
  void start(std::uint64_t offset, std::uint64_t length, bool write, Completion done, Effect effect) {
    const std::uint64_t id = ++ops;
    std::error_code error;
    if (offset % 512 || length % 512)
      error = errc::not_aligned;
    else if (offset > data_.size() || length > data_.size() - offset)
      error = errc::out_of_range;
    else if (length > max_request_)
      error = errc::request_too_large;
    if (error)
      ++rejected;
    else if (id == fail_at_)
      error = fail_error_;

    note_start(Active{id, offset, offset + length, write});
    auto finish = [this, id, error, done = std::move(done), effect = std::move(effect)] {
      if (!error) effect();
      active_.erase(std::find_if(active_.begin(), active_.end(), [id](const Active& a) { return a.id == id; }));
      --in_flight;
      done(error);
    };
    auto wait = delay;
    if (jitter.count() > 0)
      wait += std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(0, jitter.count())(random_));
    if (wait.count() == 0) {
      boost::asio::post(io_, std::move(finish));
      return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, wait);
    timer->async_wait([timer, finish = std::move(finish)](const boost::system::error_code&) mutable { finish(); });
  }

  void note_start(const Active& a) {
    max_in_flight = std::max(max_in_flight, ++in_flight);
    unsigned conflicting = 1;
    for (const Active& b : active_)
      if (b.begin < a.end && a.begin < b.end && (a.write || b.write)) ++conflicting;
    if (conflicting > 1) max_conflicting_overlap = std::max(max_conflicting_overlap, conflicting);
    active_.push_back(a);
  }

  boost::asio::io_context& io_;
  std::vector<std::byte> data_;
  bool can_flush_;
  std::size_t max_request_;
  std::vector<Active> active_;
  std::uint64_t fail_at_ = 0;
  std::error_code fail_error_;
  std::minstd_rand random_{42};
};

}  // namespace aoe::test
