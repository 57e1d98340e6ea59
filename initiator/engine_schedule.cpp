// engine_schedule.cpp: which path carries the next frame.
//
// A request completes with its slowest frame, so frames go where they are
// answered first, not round-robin: a path 5 ms slower than another would
// otherwise add 5 ms to every request.  Each path is modelled as a pipe of
// its window's frames that answers one every srtt / window (its throughput)
// after srtt: by time T it can finish window * T / srtt frames, minus those
// already in it.  The fastest path with room always takes the frame; a
// slower path with room takes it only when the faster paths, all full,
// could not finish everything waiting by the time the slower one answers.
// So a slow path carries only the bandwidth the fast ones cannot, and equal
// paths share in proportion to their windows (docs/aoe-protocol.md §8.6).
#include <algorithm>

#include "initiator/engine.h"

namespace aoe {

// Retired paths never carry I/O: their port is gone, or is another disk.
bool Engine::usable(const Path& p, bool allow_failed) const {
  return p.link_up && !p.retired && (allow_failed || !p.failed);
}

// Frames waiting for a path: retransmissions and the unframed rest of the
// queued requests (those held by a fence too: they are few and short).
std::size_t Engine::waiting_frames() const noexcept {
  std::size_t n = retransmit_queue_.size();
  unsigned per_frame = std::max(1u, payload_sectors_);
  for (const Request* r : queue_)
    n += r->kind == Kind::flush ? 1 : (r->sectors - r->next_sector + per_frame - 1) / per_frame;
  return n;
}

// The path's smoothed RTT.  A path not yet measured is taken to be as fast
// as the best measured one (`unmeasured`), so that it is tried and
// measured.  Timeouts do not count against it here: a path avoided for
// its timeouts would get no frame to answer cleanly and stay avoided; its
// halved window and, if it stays silent, its failure keep its share small.
Duration Engine::expected_rtt(const Path& p, Duration unmeasured) const noexcept {
  // 1 us floor: a clock that does not move (tests) still gives a rate.
  return std::max<Duration>(p.rtt.has_sample() ? p.rtt.srtt() : unmeasured, std::chrono::microseconds(1));
}

int Engine::pick_path(std::size_t backlog) {
  auto has_room = [&](const Path& p) {
    return p.outstanding < p.window.size() && ports_[p.port].outstanding < ports_[p.port].buffer_count;
  };
  Duration unmeasured = Duration::max();
  for (const Path& p : paths_)
    if (usable(p, false) && p.rtt.has_sample()) unmeasured = std::min(unmeasured, p.rtt.srtt());
  if (unmeasured == Duration::max()) unmeasured = Duration(0);

  // The fastest working path with room; among equals, the next in turn.
  int pick = -1;
  Duration pick_rtt{};
  for (std::size_t n = 0; n < paths_.size(); ++n) {
    unsigned i = static_cast<unsigned>((next_path_ + n) % paths_.size());
    const Path& p = paths_[i];
    if (!usable(p, false) || !has_room(p)) continue;
    Duration rtt = expected_rtt(p, unmeasured);
    if (pick < 0 || rtt < pick_rtt) {
      pick = static_cast<int>(i);
      pick_rtt = rtt;
    }
  }
  if (pick >= 0) {
    // What the faster (full) paths finish by the time this one answers.
    double faster_capacity = 0;
    for (const Path& q : paths_) {
      Duration rtt = expected_rtt(q, unmeasured);
      if (!usable(q, false) || rtt >= pick_rtt) continue;
      faster_capacity += q.window.size() * (static_cast<double>(pick_rtt.count()) / static_cast<double>(rtt.count())) -
                         q.outstanding;
    }
    if (faster_capacity >= static_cast<double>(backlog)) return -1;  // wait for a faster path
    next_path_ = (static_cast<unsigned>(pick) + 1) % static_cast<unsigned>(paths_.size());
    return pick;
  }
  // Failed paths (still probed) only when no path works, in turn, so I/O
  // never stops while the deadline has not passed.
  if (std::any_of(paths_.begin(), paths_.end(), [&](const Path& p) { return usable(p, false); })) return -1;
  for (std::size_t n = 0; n < paths_.size(); ++n) {
    unsigned i = static_cast<unsigned>((next_path_ + n) % paths_.size());
    if (usable(paths_[i], true) && has_room(paths_[i])) {
      next_path_ = (i + 1) % static_cast<unsigned>(paths_.size());
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace aoe
