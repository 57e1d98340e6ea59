// engine_paths.cpp: the engine's side of its paths.  Which paths exist and
// whether each works is PathHealth (initiator/path_health.h); here are
// what it asks of the engine (probe reads as requests, moving a path's
// frames), the events that reach the engine from outside (rediscovery,
// announcements, link events), and the whole target going down and back.
#include "initiator/engine.h"
#include "initiator/errors.h"

namespace aoe {

void Engine::update_paths(const std::vector<PathInfo>& infos) {
  paths_.update(infos);
  pump();
  run_completions();
}

void Engine::quarantine(const wire::Mac& mac) { retire_port(mac, "answers as another disk"); }

void Engine::suspend(const wire::Mac& mac) {
  retire_port(mac, "announced itself (restarted, perhaps as another disk?): suspended until IDENTIFY agrees");
}

void Engine::retire_port(const wire::Mac& mac, const char* why) {
  paths_.retire_port(mac, why);
  pump();
  run_completions();
}

// A port of ours that announces itself has (re)started: until IDENTIFY
// shows it still serves the attached disk, its answers are not taken.  The
// owner of the links rediscovers on the same announcement (Control).
void Engine::on_announcement(const wire::Header& h) {
  if (h.error || h.shelf != target_.shelf || h.slot != target_.slot || !paths_.serves(h.src)) return;
  suspend(h.src);
}

void Engine::set_link_state(const Link& link, bool up) {
  paths_.set_link_state(link, up);
  pump();
  run_completions();
}

void Engine::move_frames(unsigned p) {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (!s.request || s.queued_for_retransmit || s.path != p) continue;
    if (s.request->kind == Kind::probe) continue;
    --paths_[p].outstanding;
    --paths_.port_of(paths_[p]).outstanding;
    s.queued_for_retransmit = true;
    retransmit_queue_.push_back(i);
  }
}

// A probe is a one-frame read request pinned to its path; its completion
// reports to the path health.
void Engine::send_probe(unsigned p, unsigned sectors) {
  if (free_slots_.empty()) {
    paths_.on_probe_done(p, sectors, errc::no_path);
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
  r->done = [this, p, sectors](std::error_code ec) { paths_.on_probe_done(p, sectors, ec); };
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
  paths_.restart_all();
  log::notice("{}: target answers again: accepting I/O", target_.name());
}

}  // namespace aoe
