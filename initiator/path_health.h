// path_health.h: which paths to a target exist and whether each works.
//
// Paths come from discovery and rediscovery (a failed path missing from
// misses_to_retire rediscoveries in a row is retired; a port found serving
// another disk or announcing a restart is retired at once).  A path that
// keeps timing out while another works is failed: its frames move to the
// healthy paths at once and it is probed in the background until it
// answers probes_to_restore rounds in a row (docs/aoe-protocol.md §8.6).
// A path that answers late still answers: it is slow, not failed.  Probes
// come in two sizes; when only the small one gets through, the path's
// payload is halved (a hop with a smaller MTU, docs/aoe-protocol.md §7).
// A NIC going down fails its paths at once; back up, they are probed.  A
// working path the scheduler leaves idle gets a probe now and then, for its
// RTT.
//
// It decides; the engine acts: sending a probe and moving a path's frames
// are the two things it asks of the engine (Actions).  Which path carries a
// frame is initiator/scheduler.h.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "initiator/path.h"
#include "initiator/target.h"
#include "initiator/timer_service.h"

namespace aoe {

// The tunables of path health, with their defaults; EngineOptions carries them.
struct PathOptions {
  RttLimits rtt;
  // Upper bound on any path's window whatever the Buffer Count says (the
  // kernel's aoe_maxout is 64; vblade's default Buffer Count is 16).
  unsigned max_window = 128;
  // How often a failed path is probed.  A path failed again within
  // flap_window of its restoration is probed half as often each time (up
  // to 16 x): a path that cannot hold its answers does not cycle.
  std::chrono::milliseconds probe_interval{500};
  std::chrono::milliseconds flap_window{std::chrono::seconds(30)};
  // Probe rounds in a row a failed path must answer at full size before it
  // carries I/O again: one answer may be a lucky frame on a path that
  // loses most.
  unsigned probes_to_restore = 2;
  // A working path that carried no frame for this long while I/O runs on
  // the others gets a probe read, whose answer refreshes its RTT: the
  // scheduler leaves a slow path idle, and would otherwise never notice it
  // became fast again.  One frame a second costs nothing measurable.
  std::chrono::milliseconds rtt_refresh_interval{std::chrono::seconds(1)};
  // Loss episodes in a row without any answer that fail a path: each waits
  // a doubled RTO, so 3 takes at least 7 x min_rto and rides out a stall.
  // Any answer counts, even to a frame already answered on another path:
  // a path that answers late is slow, and the scheduler treats it so.
  unsigned episodes_to_fail = 3;
  // Rediscovery rounds in a row that must miss a failed path before it is
  // retired: one Query Config answer is one frame, and losing it must not
  // stop the probes that would bring the path back; probing a path that is
  // really gone costs only a frame per probe.
  unsigned misses_to_retire = 2;
};

class PathHealth {
 public:
  struct Actions {
    // Send a probe read of `sectors` on the path; its outcome comes back
    // through on_probe_done().
    std::function<void(unsigned path, unsigned sectors)> send_probe;
    // Move the path's frames in flight to the others (queue them for resending).
    std::function<void(unsigned path)> move_frames;
    // Whether any frame (I/O or probe) is in flight: idle paths are
    // refreshed only while there is traffic to compare them with.
    std::function<bool()> io_in_flight;
  };

  // `target` (for its name, shelf and slot) and `timers` outlive this.
  PathHealth(const TargetInfo& target, const PathOptions& options, TimerService& timers, Actions actions);

  std::vector<Path>& paths() noexcept { return paths_; }
  const std::vector<Path>& paths() const noexcept { return paths_; }
  std::vector<Port>& ports() noexcept { return ports_; }
  const std::vector<Port>& ports() const noexcept { return ports_; }
  Path& operator[](unsigned p) noexcept { return paths_[p]; }
  const Path& operator[](unsigned p) const noexcept { return paths_[p]; }
  Port& port_of(const Path& path) noexcept { return ports_[path.port]; }
  // The path over `link` to the target port `mac`, or -1.
  int find(const Link& link, const wire::Mac& mac) const noexcept;
  // Whether a path in use leads to the target port `mac`.
  bool serves(const wire::Mac& mac) const noexcept;

  // Sectors per new frame: the smallest payload among the working paths
  // (or, if none works, among those whose NIC is up).
  unsigned payload_sectors() const noexcept { return payload_sectors_; }
  // A failed path waits for its probes (the engine's tick must run).
  bool probing() const noexcept;

  // Discovery's or rediscovery's list: new paths join; known ones take the new Buffer
  // Count, Sector Count and MTU; failed ones missing too often are retired.
  void update(const std::vector<PathInfo>& infos);
  // Every path to `mac` stops at once (its frames move) and stays out until
  // update() lists it again.
  void retire_port(const wire::Mac& mac, const char* why);
  void set_link_state(const Link& link, bool up);

  // Something from the path answered: it is alive, however late.
  void on_answer(unsigned p) noexcept { paths_[p].silent_episodes = 0; }
  // A loss episode began on the path (Window::on_loss said so).
  void on_loss_episode(unsigned p);
  void on_probe_done(unsigned p, unsigned sectors, std::error_code ec);
  // Probes what is due at `now`: failed paths, and idle working ones.
  void probe_due(Clock::time_point now);
  void fail(unsigned p, const char* why);
  // The target answers again after it was down: every path whose NIC is up
  // works again, with a fresh RTT estimate (old timings describe a target
  // that is gone).
  void restart_all();

  // Live numbers of the paths in use (retired ones are not shown).
  std::vector<PathStatus> status() const;

 private:
  void add(const PathInfo& info);
  void restore(unsigned p);
  void probe(unsigned p);
  void send_probe(unsigned p, unsigned sectors);
  void size_links();
  void update_payload();
  Clock::time_point probe_time(const Path& path, Clock::time_point now) const noexcept;

  const TargetInfo& target_;
  PathOptions options_;
  TimerService& timers_;
  Actions actions_;
  std::vector<Path> paths_;
  std::vector<Port> ports_;
  unsigned payload_sectors_;
};

}  // namespace aoe
