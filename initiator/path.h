// path.h: timing and flow control for one path, a (local NIC, target port) pair.
//
// RttEstimator is Jacobson/Karels as in RFC 6298 (the aoe driver's choice,
// aoecmd.c calc_rttavg): srtt and rttvar from samples of frames that were
// never retransmitted (Karn), RTO = srtt + 4 * rttvar, clamped, doubled per
// consecutive timeout.  Unlike the kernel's 16.5 s first timeout, the first
// RTO here is 200 ms and reaches LAN scale after a handful of replies.
//
// Window is AIMD like the aoe driver's (start at half the target's Buffer
// Count, slow start, +1 per window, never above Buffer Count) but reacts to
// a loss episode once, not once per lost frame: random loss of a few
// percent halves the window instead of collapsing it to one.
#pragma once

#include <chrono>
#include <cstdint>

#include "initiator/clock.h"

namespace aoe {

// Tunables with their defaults; EngineOptions carries them.
struct RttLimits {
  Duration initial_rto = std::chrono::milliseconds(200);  // before any sample (docs/aoe-protocol.md §8.1)
  Duration min_rto = std::chrono::milliseconds(10);       // floor: vblade on a busy host jitters by ms
  Duration max_rto = std::chrono::seconds(4);             // ceiling of the exponential backoff
};

class RttEstimator {
 public:
  explicit RttEstimator(RttLimits limits = {}) noexcept : limits_(limits) {}

  void sample(Duration rtt) noexcept;   // a reply to a frame sent once
  void on_timeout() noexcept;           // doubles the RTO (capped)
  Duration rto() const noexcept;
  Duration srtt() const noexcept { return srtt_; }
  Duration rttvar() const noexcept { return rttvar_; }
  bool has_sample() const noexcept { return has_sample_; }
  unsigned backoff() const noexcept { return backoff_; }

 private:
  RttLimits limits_;
  Duration srtt_{0};
  Duration rttvar_{0};
  bool has_sample_ = false;
  unsigned backoff_ = 0;  // consecutive timeouts, reset by a clean sample
};

class Window {
 public:
  // `cap` is the target port's Buffer Count (bounded by the engine's maximum).
  explicit Window(unsigned cap) noexcept;

  unsigned size() const noexcept { return static_cast<unsigned>(cwnd_); }
  unsigned cap() const noexcept { return cap_; }
  unsigned threshold() const noexcept { return ssthresh_; }

  // A frame sent as transmission number `sequence` (a counter of the path's
  // sends) was answered.
  void on_ack() noexcept;
  // A frame sent as `sequence` timed out; the path has sent `next_sequence`
  // frames so far.  Only the first loss of a window shrinks it: returns
  // true when this loss starts a new episode.
  bool on_loss(std::uint64_t sequence, std::uint64_t next_sequence) noexcept;
  // New Buffer Count from rediscovery.
  void set_cap(unsigned cap) noexcept;

 private:
  double cwnd_;
  unsigned ssthresh_;
  unsigned cap_;
  std::uint64_t recovery_end_ = 0;  // losses of frames sent before this are the same episode
};

}  // namespace aoe
