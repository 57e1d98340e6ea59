#include "initiator/path_health.h"

#include <algorithm>
#include <utility>

#include "initiator/errors.h"
#include "initiator/link.h"
#include "base/log.h"

namespace aoe {

PathHealth::PathHealth(const TargetInfo& target, const PathOptions& options, TimerService& timers, Actions actions)
    : target_(target),
      options_(options),
      timers_(timers),
      actions_(std::move(actions)),
      payload_sectors_(target.payload_sectors()) {}

int PathHealth::find(const Link& link, const wire::Mac& mac) const noexcept {
  for (unsigned p = 0; p < paths_.size(); ++p)
    if (paths_[p].link == &link && paths_[p].mac == mac) return static_cast<int>(p);
  return -1;
}

bool PathHealth::serves(const wire::Mac& mac) const noexcept {
  return std::any_of(paths_.begin(), paths_.end(), [&](const Path& p) { return p.mac == mac && !p.retired; });
}

bool PathHealth::probing() const noexcept {
  return std::any_of(paths_.begin(), paths_.end(), [](const Path& p) { return p.failed && !p.retired && p.link_up; });
}

void PathHealth::add(const PathInfo& info) {  // update() settles the payload after
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

void PathHealth::update(const std::vector<PathInfo>& infos) {
  std::vector<bool> listed(paths_.size(), false);
  for (const PathInfo& info : infos) {
    int known = find(*info.link, info.target_mac);
    if (known < 0) {
      add(info);
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
  size_links();
}

// Each link learns the most frames in flight through it: the sum of its
// paths' window caps (a port's Buffer Count bounds its paths together, but
// each of them may carry all of it).
void PathHealth::size_links() {
  std::vector<std::pair<Link*, unsigned>> links;
  for (const Path& p : paths_) {
    if (p.retired) continue;
    auto known = std::find_if(links.begin(), links.end(), [&](const auto& l) { return l.first == p.link; });
    if (known == links.end())
      links.emplace_back(p.link, p.window.cap());
    else
      known->second += p.window.cap();
  }
  for (const auto& [link, frames] : links) link->expect_in_flight(frames);
}

void PathHealth::update_payload() {
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

// Retired until update() lists the port again: only a rediscovery whose
// IDENTIFY agrees with the attached disk does.
void PathHealth::retire_port(const wire::Mac& mac, const char* why) {
  for (unsigned p = 0; p < paths_.size(); ++p) {
    Path& path = paths_[p];
    if (path.mac != mac || path.retired) continue;
    path.failed = false;  // fail() logs and moves the frames even if it timed out before
    fail(p, why);
    path.retired = true;
  }
  update_payload();
}

void PathHealth::fail(unsigned p, const char* why) {
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
  actions_.move_frames(p);
  update_payload();
  log::warning("{}: path {} -> {} {}: moving its frames to the other paths and probing it", target_.name(),
               path.stats.interface, wire::format_mac(path.mac), why);
}

void PathHealth::restore(unsigned p) {
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

// Episodes in a row with no answer at all, each after a doubled RTO, are no
// longer congestion: the path is broken.  (The aoe driver drops a NIC after
// 2 x window consecutive lost frames, which one stall can reach.)
void PathHealth::on_loss_episode(unsigned p) {
  Path& path = paths_[p];
  path.rtt.on_timeout();
  if (!path.failed && ++path.silent_episodes >= options_.episodes_to_fail) fail(p, "keeps timing out");
}

// A probe pair: one full-size read (what I/O needs) and one single-sector
// read (what any hop passes).  Only the small one answering means the path
// works but not at this frame size.
void PathHealth::probe(unsigned p) {
  Path& path = paths_[p];
  path.small_probe_answered = false;
  path.full_probe_answered = false;
  path.probes_in_flight = path.payload_sectors > 1 ? 2 : 1;
  send_probe(p, path.payload_sectors);
  if (path.payload_sectors > 1) send_probe(p, 1);
}

void PathHealth::on_probe_done(unsigned p, unsigned sectors, std::error_code ec) {
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
  if (ec == errc::timed_out && !path.failed && sectors == path.payload_sectors) on_loss_episode(p);
  if (--path.probes_in_flight > 0) return;
  path.next_probe = probe_time(path, now);
  if (!path.failed) return;
  if (path.full_probe_answered) {
    if (++path.answered_rounds >= options_.probes_to_restore) restore(p);
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

void PathHealth::send_probe(unsigned p, unsigned sectors) {
  paths_[p].probe_sent_at = timers_.now();
  actions_.send_probe(p, sectors);
}

Clock::time_point PathHealth::probe_time(const Path& path, Clock::time_point now) const noexcept {
  return now + options_.probe_interval * (1u << path.flaps);
}

// Failed paths are probed until they answer; a working path left idle by
// the scheduler while the others carry I/O gets one probe per
// rtt_refresh_interval, so its RTT describes it now (a congested switch
// may have cleared).
void PathHealth::probe_due(Clock::time_point now) {
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
    if (!idle || !actions_.io_in_flight()) continue;
    path.probes_in_flight = 1;
    path.full_probe_answered = false;
    send_probe(p, path.payload_sectors);
    path.refresh_sequence = path.sequence;  // the probe is not traffic
  }
}

void PathHealth::set_link_state(const Link& link, bool up) {
  for (unsigned p = 0; p < paths_.size(); ++p) {
    Path& path = paths_[p];
    if (path.link != &link || path.link_up == up) continue;
    path.link_up = up;
    if (!up) {
      fail(p, "lost its link");
    } else {
      path.next_probe = timers_.now();
      log::notice("{}: {} is up again: probing path to {}", target_.name(), path.stats.interface,
                  wire::format_mac(path.mac));
    }
  }
  update_payload();
}

void PathHealth::restart_all() {
  for (unsigned p = 0; p < paths_.size(); ++p) {
    paths_[p].rtt = RttEstimator(options_.rtt);
    if (paths_[p].link_up && !paths_[p].retired) restore(p);
  }
}

std::vector<PathStatus> PathHealth::status() const {
  std::vector<PathStatus> out;
  for (const Path& p : paths_) {
    if (p.retired) continue;
    PathStatus st = p.stats;
    st.failed = p.failed;
    st.link_up = p.link_up;
    st.receive_drops = p.link->receive_drops();
    st.payload_bytes = p.payload_sectors * static_cast<unsigned>(wire::sector_size);
    st.window = p.window.size();
    st.window_cap = p.window.cap();
    st.outstanding = p.outstanding;
    st.srtt = p.rtt.srtt();
    st.rttvar = p.rtt.rttvar();
    st.rto = p.rtt.rto();
    out.push_back(std::move(st));
  }
  return out;
}

}  // namespace aoe
