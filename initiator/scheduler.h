// scheduler.h: which path carries the next frame.
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
//
// Pure: it reads the paths and ports, and remembers only whose turn it is.
#pragma once

#include <cstddef>
#include <span>

#include "initiator/path.h"

namespace aoe {

// A path that may carry I/O: NIC up, not retired (its port gone, or another
// disk), and working unless `allow_failed`.
bool usable(const Path& path, bool allow_failed) noexcept;

class Scheduler {
 public:
  // The path for the next frame when `backlog` frames wait (this one
  // included), or -1: no path has room, or the faster paths will finish
  // the backlog before the one with room would answer.  Failed paths (still
  // probed) carry frames only when no path works, in turn, so I/O never
  // stops while the deadline has not passed.
  int pick(std::span<const Path> paths, std::span<const Port> ports, std::size_t backlog);

 private:
  unsigned next_ = 0;  // where ties among paths start: they take turns
};

}  // namespace aoe
