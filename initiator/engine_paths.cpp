// engine_paths.cpp: the engine's paths: which exist (discovery, rediscovery)
// and their health: failure after silent loss episodes, background probes
// (of failed paths, and of idle ones for their RTT), the jumbo fallback,
// NIC link events, and the whole target going down and back.  Which path
// carries a frame is engine_schedule.cpp; the data path engine.cpp.
#include <algorithm>

#include "initiator/engine.h"
#include "initiator/errors.h"

namespace aoe {

void Engine::add_path(const PathInfo& info) {
  info.link->accept_only(target_.shelf, target_.slot);
  auto port = std::find_if(ports_.begin(), ports_.end(), [&](const Port& p) { return p.mac == info.target_mac; });
  if (port == ports_.end()) {
    ports_.push_back(Port{info.target_mac, std::max<unsigned>(1, info.buffer_count), 0});
    port = ports_.end() - 1;
  }
  unsigned cap = std::min(port->buffer_count, options_.max_window);
  Path path{.link = info.link,
            .mac = info.target_mac,
            .port = static_cast<unsigned>(port - ports_.begin()),
            .rtt = RttEstimator(options_.rtt),
            .window = Window(cap),
            .payload_sectors = info.payload_sectors(),
            .full_payload_sectors = info.payload_sectors(),
            .stats = {}};
  path.stats.interface = info.link->info().name;
  path.stats.target_mac = info.target_mac;
  paths_.push_back(std::move(path));
  log::info("{}: path {} -> {} ({} bytes per frame, window {} of {})", target_.name(), info.link->info().name,
            wire::format_mac(info.target_mac), paths_.back().payload_sectors * wire::sector_size,
            paths_.back().window.size(), cap);
}

void Engine::update_paths(const std::vector<PathInfo>& infos) {
  std::vector<bool> listed(paths_.size(), false);
  for (const PathInfo& info : infos) {
    int known = path_of(*info.link, info.target_mac);
    if (known < 0) {
      add_path(info);
      continue;
    }
    unsigned p = static_cast<unsigned>(known);
    if (p < listed.size()) listed[p] = true;  // else added by this very list
    Path& path = paths_[p];
    path.missed_rediscoveries = 0;
    if (path.retired) {
      path.retired = false;
      path.next_probe = timers_.now();
    }
    Port& port = ports_[path.port];
    port.buffer_count = std::max<unsigned>(1, info.buffer_count);
    path.window.set_cap(std::min(port.buffer_count, options_.max_window));
    // A new Sector Count or MTU: smaller takes effect at once (frames in
    // flight are cut on resend); larger, once a full-size frame gets through.
    path.full_payload_sectors = info.payload_sectors();
    if (path.payload_sectors > path.full_payload_sectors) {
      path.payload_sectors = path.full_payload_sectors;
    } else if (path.payload_sectors < path.full_payload_sectors && !path.failed && path.probes_in_flight == 0) {
      path.probes_in_flight = 1;
      path.small_probe_answered = false;
      send_probe(p, path.full_payload_sectors);
    }
  }
  for (unsigned p = 0; p < listed.size(); ++p) {
    Path& path = paths_[p];
    // A NIC that is down answers no discovery: that is not its port gone.
    if (listed[p] || !path.failed || path.retired || !path.link_up) continue;
    if (++path.missed_rediscoveries < options_.misses_to_retire) continue;
    path.retired = true;  // its port is gone from this NIC: stop probing it
    log::notice("{}: path {} -> {} no longer answers discovery: retired", target_.name(), path.stats.interface,
                wire::format_mac(path.mac));
  }
  update_payload();
  pump();
  run_completions();
}

// New frames are cut for the smallest payload among the paths that work
// (or, if none does, among those whose NIC is up).
void Engine::update_payload() {
  unsigned healthy = 255, up = 255;
  for (const Path& p : paths_) {
    if (!p.link_up) continue;
    up = std::min(up, p.payload_sectors);
    if (!p.failed) healthy = std::min(healthy, p.payload_sectors);
  }
  unsigned next = healthy != 255 ? healthy : up != 255 ? up : payload_sectors_;
  if (next != payload_sectors_)
    log::notice("{}: frames now carry {} bytes", target_.name(), next * wire::sector_size);
  payload_sectors_ = next;
}

void Engine::quarantine(const wire::Mac& mac) { retire_port(mac, "answers as another disk"); }

void Engine::suspend(const wire::Mac& mac) {
  retire_port(mac, "announced itself (restarted, perhaps as another disk?): suspended until IDENTIFY agrees");
}

// Retired until update_paths() lists the port again: only a rediscovery
// whose IDENTIFY agrees with the attached disk does.
void Engine::retire_port(const wire::Mac& mac, const char* why) {
  for (unsigned p = 0; p < paths_.size(); ++p) {
    Path& path = paths_[p];
    if (path.mac != mac || path.retired) continue;
    path.failed = false;  // fail_path() logs and moves the frames even if it timed out before
    fail_path(p, why);
    path.retired = true;
  }
  update_payload();
  pump();
  run_completions();
}

// A port of ours that announces itself has (re)started: until IDENTIFY
// shows it still serves the attached disk, its answers are not taken.  The
// owner of the links rediscovers on the same announcement (Control).
void Engine::on_announcement(const wire::Header& h) {
  if (h.error || h.shelf != target_.shelf || h.slot != target_.slot) return;
  if (std::none_of(paths_.begin(), paths_.end(), [&](const Path& p) { return p.mac == h.src && !p.retired; }))
    return;
  suspend(h.src);
}

void Engine::fail_path(unsigned p, const char* why) {
  Path& path = paths_[p];
  if (path.failed) return;
  auto now = timers_.now();
  path.failed = true;
  ++path.stats.failures;
  // Failed again soon after its restoration: probe it less often (capped).
  bool flapped = path.restored_at != Clock::time_point{} && now - path.restored_at < options_.flap_window;
  path.flaps = flapped ? std::min(path.flaps + 1, 4u) : 0;
  path.answered_rounds = 0;
  path.next_probe = probe_time(path, now);
  requeue_frames_of(p);
  update_payload();
  log::warning("{}: path {} -> {} {}: moving its frames to the other paths and probing it", target_.name(),
               path.stats.interface, wire::format_mac(path.mac), why);
}

void Engine::restore_path(unsigned p) {
  Path& path = paths_[p];
  if (!path.failed) return;
  path.failed = false;
  path.silent_episodes = 0;
  path.missed_rediscoveries = 0;
  path.answered_rounds = 0;
  path.restored_at = timers_.now();
  // The RTT estimate stays: the probes that restored the path measured it.
  path.window = Window(path.window.cap());
  update_payload();
  log::notice("{}: path {} -> {} answers again ({} bytes per frame)", target_.name(), path.stats.interface,
              wire::format_mac(path.mac), path.payload_sectors * wire::sector_size);
}

void Engine::requeue_frames_of(unsigned p) {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.request || s.queued_for_retransmit || s.path != p) continue;
    if (s.request->kind == Kind::probe) continue;
    --paths_[p].outstanding;
    --ports_[paths_[p].port].outstanding;
    s.queued_for_retransmit = true;
    retransmit_queue_.push_back(i);
  }
}

// A probe pair: one full-size read (what I/O needs) and one single-sector
// read (what any hop passes).  Only the small one answering means the path
// works but not at this frame size.
void Engine::probe(unsigned p) {
  Path& path = paths_[p];
  path.small_probe_answered = false;
  path.full_probe_answered = false;
  path.probes_in_flight = path.payload_sectors > 1 ? 2 : 1;
  send_probe(p, path.payload_sectors);
  if (path.payload_sectors > 1) send_probe(p, 1);
}

void Engine::send_probe(unsigned p, unsigned sectors) {
  if (free_slots_.empty()) {
    on_probe_done(p, sectors, errc::no_path);
    return;
  }
  Request* r = new_request();
  r->kind = Kind::probe;
  r->lba = 0;
  r->sectors = sectors;
  r->next_sector = sectors;
  r->fully_framed = true;
  r->frames_outstanding = 1;
  r->data = probe_buffer_.data();
  r->submitted_at = timers_.now();
  r->pinned_path = static_cast<int>(p);
  r->error.clear();
  r->done = [this, p, sectors](std::error_code ec) { on_probe_done(p, sectors, ec); };
  paths_[p].probe_sent_at = r->submitted_at;
  ++live_requests_;
  std::uint32_t i = free_slots_.back();
  free_slots_.pop_back();
  Slot& s = slots_[i];
  s.request = r;
  s.first_sector = 0;
  s.sectors = static_cast<std::uint8_t>(sectors);
  s.transmissions = 0;
  ++frames_in_flight_;
  transmit(i, p);
}

void Engine::on_probe_done(unsigned p, unsigned sectors, std::error_code ec) {
  Path& path = paths_[p];
  if (!ec && sectors > path.payload_sectors && !path.failed) {  // a lowered path carries full frames again
    log::notice("{}: path {} -> {} carries {}-byte frames again", target_.name(), path.stats.interface,
                wire::format_mac(path.mac), sectors * wire::sector_size);
    path.payload_sectors = std::min(sectors, path.full_payload_sectors);  // the MTU may have shrunk meanwhile
    update_payload();
  }
  auto now = timers_.now();
  if (!ec && sectors == path.payload_sectors) {
    // A probe sent once and answered at the size I/O uses: an RTT sample
    // (Karn).  A failed path's first answer starts a new estimate: what it
    // measured before it failed describes a path that stopped answering.
    if (path.failed && path.answered_rounds == 0 && !path.full_probe_answered) path.rtt = RttEstimator(options_.rtt);
    path.rtt.sample(now - path.probe_sent_at);
    path.full_probe_answered = true;
  }
  if (!ec && sectors == 1) path.small_probe_answered = true;
  // A working path's probe unanswered within its RTO is a loss episode
  // like a data frame's: a dead path the scheduler no longer gives frames
  // is still found out.
  if (ec == errc::timed_out && !path.failed && sectors == path.payload_sectors) {
    path.rtt.on_timeout();
    if (++path.silent_episodes >= options_.episodes_to_fail) fail_path(p, "keeps timing out");
  }
  if (--path.probes_in_flight > 0) return;
  path.next_probe = probe_time(path, now);
  if (!path.failed) return;
  if (path.full_probe_answered) {
    if (++path.answered_rounds >= options_.probes_to_restore) restore_path(p);
    return;
  }
  path.answered_rounds = 0;
  if (path.small_probe_answered && path.payload_sectors > 1) {
    unsigned lower = path.payload_sectors / 2;
    log::warning("{}: path {} -> {}: {}-byte frames are lost while small ones get through (a hop with a "
                 "smaller MTU?): lowering its payload to {} bytes",
                 target_.name(), path.stats.interface, wire::format_mac(path.mac),
                 path.payload_sectors * wire::sector_size, lower * wire::sector_size);
    path.payload_sectors = lower;
    path.next_probe = now;  // try the new size at once
    update_payload();
  }
}

Clock::time_point Engine::probe_time(const Path& path, Clock::time_point now) const noexcept {
  return now + options_.probe_interval * (1u << path.flaps);
}

// Failed paths are probed until they answer; a working path left idle by
// the scheduler while the others carry I/O gets one probe per
// rtt_refresh_interval, so its RTT describes it now (a congested switch
// may have cleared).
void Engine::probe_paths(Clock::time_point now) {
  for (unsigned p = 0; p < paths_.size(); ++p) {
    Path& path = paths_[p];
    if (path.retired || !path.link_up || path.probes_in_flight > 0) continue;
    if (path.failed) {
      if (now >= path.next_probe) probe(p);
      continue;
    }
    if (now < path.next_refresh) continue;
    // Idle for a whole interval (the first look only starts one).
    bool idle = path.next_refresh != Clock::time_point{} && path.sequence == path.refresh_sequence &&
                path.outstanding == 0;
    path.refresh_sequence = path.sequence;
    path.next_refresh = now + options_.rtt_refresh_interval;
    if (!idle || frames_in_flight_ == 0) continue;
    path.probes_in_flight = 1;
    path.full_probe_answered = false;
    send_probe(p, path.payload_sectors);
    path.refresh_sequence = path.sequence;  // the probe is not traffic
  }
}

void Engine::set_link_state(const Link& link, bool up) {
  for (unsigned p = 0; p < paths_.size(); ++p) {
    Path& path = paths_[p];
    if (path.link != &link || path.link_up == up) continue;
    path.link_up = up;
    if (!up) {
      fail_path(p, "lost its link");
    } else {
      path.next_probe = timers_.now();
      log::notice("{}: {} is up again: probing path to {}", target_.name(), path.stats.interface,
                  wire::format_mac(path.mac));
    }
  }
  update_payload();
  pump();
  run_completions();
}

void Engine::mark_down() {
  down_ = true;
  stalled_since_ = {};
  log::error("{}: no answer within the {} s deadline on any path: target marked down, failing its I/O until it "
             "answers discovery again",
             target_.name(), std::chrono::duration<double>(options_.deadline).count());
  fail_all(errc::target_down);
  if (down_listener_) down_listener_();
}

void Engine::target_answered() {
  if (!down_) return;
  down_ = false;
  stalled_since_ = {};
  for (unsigned p = 0; p < paths_.size(); ++p) {
    paths_[p].rtt = RttEstimator(options_.rtt);  // old timings describe a target that is gone
    if (paths_[p].link_up && !paths_[p].retired) restore_path(p);
  }
  log::notice("{}: target answers again: accepting I/O", target_.name());
}

}  // namespace aoe
