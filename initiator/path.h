// path.h: one path, a (local NIC, target port) pair: its state (Path, read
// by the scheduler, the path health and the engine's data path), its timing
// and its flow control.
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
#include <string>

#include "initiator/clock.h"
#include "initiator/wire.h"

namespace aoe {

class Link;

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

// Live numbers of one path, for aoe-stat.
struct PathStatus {
  std::string interface;
  wire::Mac target_mac{};
  bool failed = false;                 // timing out while another path works, or NIC down
  bool link_up = true;
  unsigned payload_bytes = 0;
  unsigned window = 0;
  unsigned window_cap = 0;
  unsigned outstanding = 0;
  Duration srtt{0};
  Duration rttvar{0};
  Duration rto{0};
  std::uint64_t frames_sent = 0;
  std::uint64_t retransmits = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t late_replies = 0;      // answers to an earlier frame that used the tag's slot
  std::uint64_t duplicate_replies = 0; // answers to a frame already completed (a copy, or a retransmission's twin)
  std::uint64_t rejected_replies = 0;  // malformed, wrong MAC/path/target/command/LBA/count, bad length
  std::uint64_t send_drops = 0;        // the NIC queue refused the frame
  std::uint64_t receive_drops = 0;     // frames the interface's socket had no room for (all its paths')
  std::uint64_t failures = 0;          // times the path was failed (link down, or silent for 3 episodes)
};

// One path as the engine keeps it: the scheduler reads it, the path health
// (initiator/path_health.h) changes it, the data path counts its frames.
struct Path {
  Link* link = nullptr;
  wire::Mac mac{};
  unsigned port = 0;               // index into the ports (its target MAC)
  RttEstimator rtt;
  Window window;
  unsigned outstanding = 0;
  std::uint64_t sequence = 0;      // transmissions so far (for Window::on_loss)
  unsigned payload_sectors = 1;    // largest frame this path carries now
  unsigned full_payload_sectors = 1;  // what discovery says it should carry
  bool failed = false;
  bool retired = false;            // out of use: rediscovery no longer finds it, or it is another disk
  bool link_up = true;
  unsigned silent_episodes = 0;  // loss episodes since the last answer on this path
  unsigned missed_rediscoveries = 0;  // rounds in a row that did not list this path
  Clock::time_point next_probe{};
  unsigned probes_in_flight = 0;
  bool small_probe_answered = false;
  bool full_probe_answered = false;  // this round's probe at the payload size
  unsigned answered_rounds = 0;    // probe rounds in a row answered at full size while failed
  Clock::time_point probe_sent_at{};
  Clock::time_point restored_at{};
  unsigned flaps = 0;              // failed again within flap_window of restoration, in a row
  std::uint64_t refresh_sequence = 0;  // `sequence` at the last look for idleness
  Clock::time_point next_refresh{};
  PathStatus stats;
};

struct Port {                      // one target MAC: its Buffer Count bounds all paths to it
  wire::Mac mac{};
  unsigned buffer_count = 1;
  unsigned outstanding = 0;
};

}  // namespace aoe
