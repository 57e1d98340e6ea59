#include "initiator/scheduler.h"

#include <algorithm>

namespace aoe {
namespace {

// The path's smoothed RTT.  A path not yet measured is taken to be as fast
// as the best measured one (`unmeasured`), so that it is tried and
// measured.  Timeouts do not count against it here: a path avoided for
// its timeouts would get no frame to answer cleanly and stay avoided; its
// halved window and, if it stays silent, its failure keep its share small.
Duration expected_rtt(const Path& p, Duration unmeasured) noexcept {
  // 1 us floor: a clock that does not move (tests) still gives a rate.
  return std::max<Duration>(p.rtt.has_sample() ? p.rtt.srtt() : unmeasured, std::chrono::microseconds(1));
}

}  // namespace

bool usable(const Path& p, bool allow_failed) noexcept {
  return p.link_up && !p.retired && (allow_failed || !p.failed);
}

int Scheduler::pick(std::span<const Path> paths, std::span<const Port> ports, std::size_t backlog) {
  auto has_room = [&](const Path& p) {
    return p.outstanding < p.window.size() && ports[p.port].outstanding < ports[p.port].buffer_count;
  };
  Duration unmeasured = Duration::max();
  for (const Path& p : paths)
    if (usable(p, false) && p.rtt.has_sample()) unmeasured = std::min(unmeasured, p.rtt.srtt());
  if (unmeasured == Duration::max()) unmeasured = Duration(0);

  // The fastest working path with room; among equals, the next in turn.
  int pick = -1;
  Duration pick_rtt{};
  for (std::size_t n = 0; n < paths.size(); ++n) {
    unsigned i = static_cast<unsigned>((next_ + n) % paths.size());
    const Path& p = paths[i];
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
    for (const Path& q : paths) {
      Duration rtt = expected_rtt(q, unmeasured);
      if (!usable(q, false) || rtt >= pick_rtt) continue;
      faster_capacity += q.window.size() * (static_cast<double>(pick_rtt.count()) / static_cast<double>(rtt.count())) -
                         q.outstanding;
    }
    if (faster_capacity >= static_cast<double>(backlog)) return -1;  // wait for a faster path
    next_ = (static_cast<unsigned>(pick) + 1) % static_cast<unsigned>(paths.size());
    return pick;
  }
  if (std::any_of(paths.begin(), paths.end(), [&](const Path& p) { return usable(p, false); })) return -1;
  for (std::size_t n = 0; n < paths.size(); ++n) {
    unsigned i = static_cast<unsigned>((next_ + n) % paths.size());
    if (usable(paths[i], true) && has_room(paths[i])) {
      next_ = (i + 1) % static_cast<unsigned>(paths.size());
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace aoe
