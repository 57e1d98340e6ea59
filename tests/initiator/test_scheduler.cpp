// The scheduler alone (initiator/scheduler.h): paths made by hand, no
// engine, no wire, no clock.
#include "initiator/scheduler.h"

#include <vector>

#include <catch2/catch.hpp>

using namespace aoe;
using namespace std::chrono_literals;

namespace {

// A working path to `port` with a window of `window` frames, answering in
// `srtt` (not measured yet if zero).
Path path(unsigned port, unsigned window, Duration srtt = Duration(0)) {
  Path p{.port = port, .rtt = RttEstimator(), .window = Window(2 * window), .stats = {}};  // a window starts at half its cap
  if (srtt.count() > 0) p.rtt.sample(srtt);
  return p;
}

std::vector<Port> ports(unsigned count, unsigned buffer_count = 64) {
  return std::vector<Port>(count, Port{.buffer_count = buffer_count});
}

// Picks `n` frames in a row as the engine does, each filling the path.
std::vector<int> fill(Scheduler& s, std::vector<Path>& paths, std::vector<Port>& ps, std::size_t backlog, int n) {
  std::vector<int> picks;
  for (int i = 0; i < n; ++i) {
    int p = s.pick(paths, ps, backlog);
    picks.push_back(p);
    if (p < 0) break;
    ++paths[static_cast<unsigned>(p)].outstanding;
    ++ps[paths[static_cast<unsigned>(p)].port].outstanding;
    if (backlog > 1) --backlog;
  }
  return picks;
}

}  // namespace

TEST_CASE("test-scheduler-equal-paths-take-turns", "[scheduler]") {
  Scheduler s;
  std::vector<Path> paths{path(0, 4, 1ms), path(1, 4, 1ms)};
  auto ps = ports(2);
  CHECK(fill(s, paths, ps, 100, 9) == std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1, -1});  // both windows full
}

TEST_CASE("test-scheduler-slow-path-gets-only-what-the-fast-one-cannot-finish", "[scheduler]") {
  // Path 0 answers in 1 ms, path 1 in 5 ms, windows of 16.  By the time
  // path 1 would answer, path 0 finishes 16 * 5 = 80 frames, minus the 16
  // it already holds: 64.  A backlog of 64 waits for path 0; of 65, path 1
  // takes a frame.
  Scheduler s;
  std::vector<Path> paths{path(0, 16, 1ms), path(1, 16, 5ms)};
  auto ps = ports(2);
  auto first = fill(s, paths, ps, 1000, 16);
  CHECK(std::count(first.begin(), first.end(), 0) == 16);  // the fast path first, while it has room
  CHECK(s.pick(paths, ps, 64) == -1);
  CHECK(s.pick(paths, ps, 65) == 1);
}

TEST_CASE("test-scheduler-unmeasured-path-counts-as-the-fastest", "[scheduler]") {
  // Not yet measured: taken to be as fast as the best, so it is tried.
  Scheduler s;
  std::vector<Path> paths{path(0, 2, 3ms), path(1, 2)};
  auto ps = ports(2);
  CHECK(fill(s, paths, ps, 1, 4) == std::vector<int>{0, 1, 0, 1});
}

TEST_CASE("test-scheduler-port-buffer-count-bounds-its-paths", "[scheduler]") {
  // Two NICs to one port with Buffer Count 3: three frames in all.
  Scheduler s;
  std::vector<Path> paths{path(0, 8, 1ms), path(0, 8, 1ms)};
  auto ps = ports(1, 3);
  CHECK(fill(s, paths, ps, 100, 4) == std::vector<int>{0, 1, 0, -1});
}

TEST_CASE("test-scheduler-failed-paths-only-when-none-works", "[scheduler]") {
  Scheduler s;
  std::vector<Path> paths{path(0, 1, 1ms), path(1, 1, 1ms), path(2, 4, 1ms)};
  auto ps = ports(3);
  paths[0].failed = true;
  paths[2].retired = true;  // never, not even as the last resort
  // Path 1 works: the failed one gets nothing, even with path 1 full.
  CHECK(fill(s, paths, ps, 100, 2) == std::vector<int>{1, -1});
  // Path 1's NIC goes down: the failed path carries the I/O, in turn.
  paths[1].link_up = false;
  CHECK(fill(s, paths, ps, 100, 2) == std::vector<int>{0, -1});
  CHECK_FALSE(usable(paths[0], false));
  CHECK(usable(paths[0], true));
  CHECK_FALSE(usable(paths[2], true));
}
