// fake_link.h: an in-memory Ethernet wire between two Links, with precise
// fault knobs (Beast's test::stream and fail_count, for frames): drop, hold
// back (reorder), duplicate or delay the Nth frame in one direction, random
// loss under a seed, a maximum frame size (a non-jumbo switch), and a
// latency with random jitter for every frame (a distant or congested hop);
// a link records its batches of sends and can refuse a batch's tail like a
// full NIC queue.
// Delivery is asynchronous (posted to the io_context), like a real NIC.
// Latency and delays run on the wire's TimerService: pass a ManualClock
// (tests/support/manual_clock.h) for simulated time; without one they run
// on the real steady clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include "initiator/link.h"
#include "initiator/timer_service.h"

namespace aoe::test {

using FrameBytes = std::vector<std::byte>;

// The locally administered MAC 02:00:00:00:00:<last>, for a fake port.
inline wire::Mac mac(std::uint8_t last) { return {0x02, 0, 0, 0, 0, last}; }

// What happens to frames travelling one way.  Frame numbers count from 0
// in the order they were sent in that direction.
struct Faults {
  std::set<std::size_t> drop;        // lost
  std::set<std::size_t> duplicate;   // delivered twice
  std::set<std::size_t> hold;        // delivered after the next frame (reorder)
  std::map<std::size_t, std::chrono::milliseconds> delay;  // delivered late (a duplicate as late, a held frame after it)
  double loss = 0;                   // random loss probability
  std::size_t max_frame = SIZE_MAX;  // larger frames vanish (MTU mismatch)
  std::function<bool(const FrameBytes&)> drop_if;  // content-based drop
  std::chrono::microseconds latency{0};  // every frame delivered this late...
  std::chrono::microseconds jitter{0};   // ...plus uniformly up to this (so reordered)
};

class FakeWire;

class FakeLink final : public Link {
 public:
  FakeLink(FakeWire& wire, int side, LinkInfo info) : wire_(wire), side_(side), info_(std::move(info)) {}
  const LinkInfo& info() const noexcept override { return info_; }
  bool send(std::span<const std::byte> head, std::span<const std::byte> body) noexcept override;
  void send_batch(std::span<Outgoing> frames) noexcept override {
    batches.push_back(frames.size());
    std::size_t room = queue_room;
    for (Outgoing& f : frames) f.sent = room > 0 && (--room, send(f.head, f.body));
  }
  void set_receiver(Receiver receiver) override { receiver_ = std::move(receiver); }
  void expect_in_flight(unsigned frames) override { in_flight.push_back(frames); }
  FakeWire& wire() noexcept { return wire_; }
  void deliver(const FrameBytes& frame) {
    if (!up) return;
    if (unread_only)
      unread.push_back(frame);
    else if (receiver_)
      receiver_(frame);
  }
  std::uint64_t receive_drops() noexcept override { return dropped; }
  void receive_waiting() override {
    std::vector<FrameBytes> frames = std::move(unread);
    unread.clear();
    for (const FrameBytes& f : frames)
      if (receiver_) receiver_(f);
  }
  bool up = true;  // a link that is down neither sends nor receives
  // Frames arrive but wait unread, as for a process whose receive wake-up
  // has not run yet (starved, or its timer's handler ran first); only
  // receive_waiting() hands them over.
  bool unread_only = false;
  std::vector<FrameBytes> unread;
  std::uint64_t dropped = 0;  // what receive_drops() reports
  std::vector<std::size_t> batches;   // frames per send_batch() call
  std::size_t queue_room = SIZE_MAX;  // frames one send_batch() takes, the rest dropped (a full NIC queue)
  std::vector<unsigned> in_flight;    // what expect_in_flight() was told, in order

 private:
  FakeWire& wire_;
  int side_;
  LinkInfo info_;
  Receiver receiver_;
};

class FakeWire {
 public:
  // side 0 is usually the initiator, side 1 the target.
  FakeWire(boost::asio::io_context& io, LinkInfo a, LinkInfo b, std::uint64_t seed = 1, TimerService* timers = nullptr)
      : io_(io),
        own_timers_(timers ? nullptr : std::make_unique<SteadyTimers>(io)),
        timers_(timers ? *timers : *own_timers_),
        rng_(seed),
        ends_{std::make_unique<FakeLink>(*this, 0, std::move(a)), std::make_unique<FakeLink>(*this, 1, std::move(b))} {}

  FakeLink& end(int side) { return *ends_[side]; }
  Faults& faults_from(int side) { return faults_[side]; }
  const std::vector<FrameBytes>& sent_from(int side) const { return sent_[side]; }  // every frame offered
  TimerService& timers() noexcept { return timers_; }

  void transmit(int from, FrameBytes frame) {
    std::size_t n = sent_[from].size();
    sent_[from].push_back(frame);
    Faults& f = faults_[from];
    if (!ends_[from]->up || !ends_[1 - from]->up) return;
    if (f.drop.count(n) || frame.size() > f.max_frame) return;
    if (f.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < f.loss) return;
    if (f.drop_if && f.drop_if(frame)) return;
    FakeLink& to = *ends_[1 - from];
    if (f.hold.count(n)) {
      held_[from].push_back(std::move(frame));
      return;
    }
    // This frame (twice if duplicated), then the frames held for it: each
    // delivered in a handler of its own, as a NIC hands them over.
    std::vector<FrameBytes> frames(f.duplicate.count(n) ? 2 : 1, frame);
    for (auto& h : held_[from]) frames.push_back(std::move(h));
    held_[from].clear();
    auto deliver = [this, &to, frames = std::move(frames)] {
      for (const auto& copy : frames) boost::asio::post(io_, [&to, copy] { to.deliver(copy); });
    };
    auto late = f.latency;
    if (f.jitter.count() > 0)
      late += std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(0, f.jitter.count())(rng_));
    if (auto d = f.delay.find(n); d != f.delay.end()) late += d->second;
    if (late.count() > 0)
      timers_.post_at(timers_.now() + late, std::move(deliver));
    else
      deliver();
  }

 private:
  boost::asio::io_context& io_;
  std::unique_ptr<TimerService> own_timers_;  // when none was given: real time
  TimerService& timers_;
  std::mt19937_64 rng_;
  std::unique_ptr<FakeLink> ends_[2];
  Faults faults_[2];
  std::vector<FrameBytes> sent_[2];
  std::vector<FrameBytes> held_[2];
};

inline bool FakeLink::send(std::span<const std::byte> head, std::span<const std::byte> body) noexcept {
  if (!up) return false;
  FrameBytes frame(head.begin(), head.end());
  frame.insert(frame.end(), body.begin(), body.end());
  wire_.transmit(side_, std::move(frame));
  return true;
}

}  // namespace aoe::test
