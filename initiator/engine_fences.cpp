// engine_fences.cpp: the engine's hooks into WriteFences (write_fences.h,
// docs/write-ordering.md): which queued write may be framed, late answers,
// repairs of kept data, and writes that wait at the memory bound.
//
// A write frame sent twice exists twice: once an answer completes it, the
// other copy may still sit in a switch queue, on a slow path or in a
// stalled target's queue, and execute minutes later.  WriteFences records
// such copies until evidence shows they can no longer execute; meanwhile a
// later write of their sectors goes out at once and keeps its data, reads
// of those sectors return it, and once a copy is shown to be done the kept
// data is written again (a repair: the copy may have landed on top of it).
// With no fence, pump() pays one test per frame.
#include <algorithm>

#include "initiator/engine.h"
#include "initiator/errors.h"

namespace aoe {

// The first queued request whose next frame (at most `max_sectors`, what the
// chosen path carries) WriteFences lets go; null if every one is held.
// Only writes over sectors being repaired, or over fenced sectors when the
// kept data is at its bound, wait; later requests overtake them.
Engine::Request* Engine::next_to_frame(unsigned max_sectors) {
  if (fences_.empty()) return queue_.front();
  for (Request* r : queue_) {
    if (r->kind != Kind::write || r->repair) return r;
    std::uint32_t sectors = std::min<std::uint32_t>(max_sectors, r->sectors - r->next_sector);
    auto admit = fences_.admit(r->lba + r->next_sector, sectors);
    if (admit == WriteFences::Admit::go) return r;
    fence_held_ = true;
    if (!r->fenced) {
      r->fenced = true;
      ++fenced_writes_;
      if (admit == WriteFences::Admit::full)
        log::warning("{}: write at lba {} waits: the data kept for sectors that late write copies may still "
                     "overwrite is at its bound ({} bytes, EngineOptions::late_copy_memory)",
                     target_.name(), r->lba + r->next_sector, options_.late_copy_memory);
      else
        log::debug("{}: write at lba {} waits for the repair of its sectors", target_.name(),
                   r->lba + r->next_sector);
    }
  }
  return nullptr;
}

// An answer to a frame that already completed: if it answers a fenced copy
// (the same echo checks as a live answer), that copy is done.
void Engine::on_late_answer(int sender, const wire::Frame& frame) {
  const wire::Header& h = frame.header;
  if (sender < 0 || h.shelf != target_.shelf || h.slot != target_.slot || h.command != wire::Command::ata) return;
  auto p = static_cast<unsigned>(sender);
  auto answer = fences_.late_answer(tag::slot_of(h.tag), tag::generation_of(h.tag), p,
                                    std::get<wire::AtaArg>(frame.arg), h.error);
  if (answer == WriteFences::Answer::rejected) {
    ++paths_[p].stats.rejected_replies;
    log::debug("{}: rejected late reply tag {:08x} on {}: not from the copy's path, or does not echo its flags, "
               "LBA or count",
               target_.name(), h.tag, paths_[p].stats.interface);
  } else if (answer == WriteFences::Answer::resolved) {
    log::debug("{}: late write copy tag {:08x} answered on {}", target_.name(), h.tag, paths_[p].stats.interface);
  }
}

// Each repair is a write of the kept data, framed before anything else.
void Engine::start_repairs() {
  if (down_ || stopped_ || paths_.paths().empty()) return;
  while (WriteFences::Repair* repair = fences_.next_repair()) {
    log::notice("{}: lba {}+{}: a late copy of an earlier write may have landed on newer data: writing the "
                "newer data again",
                target_.name(), repair->lba, repair->sectors);
    Request* r = new_request();
    r->kind = Kind::write;
    r->lba = repair->lba;
    r->sectors = repair->sectors;
    r->next_sector = 0;
    r->fully_framed = false;
    r->frames_outstanding = 0;
    r->data = repair->data.data();  // stays until repair_done()
    r->submitted_at = timers_.now();
    r->pinned_path = -1;
    r->fenced = false;
    r->repair = true;
    r->error.clear();
    r->done = [this, id = repair->id](std::error_code ec) { fences_.repair_done(id, !ec); };
    ++live_requests_;
    queue_.push_front(r);
  }
}

// On every tick: repairs go out, kept sectors nothing needs are let go, and
// writes held at the memory bound fail once they waited the deadline (never
// sent unprotected; with no deadline they wait for the copies' answers).
void Engine::settle_fences(Clock::time_point now) {
  if (fences_.empty()) {
    fence_held_ = false;
    return;
  }
  start_repairs();
  fences_.release([this](std::uint64_t lba, std::uint32_t sectors) {
    return std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) {
      if (!s.request || s.request->kind != Kind::read) return false;
      std::uint64_t first = s.request->lba + s.first_sector;
      return first < lba + sectors && lba < first + s.sectors;
    });
  });
  fence_held_ = false;
  Request* expired = nullptr;
  for (Request* r : queue_) {
    if (!r->fenced || r->kind != Kind::write || r->repair) continue;
    auto admit = fences_.admit(r->lba + r->next_sector, std::min(paths_.payload_sectors(), r->sectors - r->next_sector));
    if (admit == WriteFences::Admit::go) continue;
    fence_held_ = true;
    if (!expired && admit == WriteFences::Admit::full && options_.deadline.count() > 0 &&
        now - r->submitted_at >= options_.deadline)
      expired = r;  // one per tick: stop_framing() changes queue_
  }
  if (expired) {
    log::error("{}: write at lba {} failed: unanswered copies of earlier writes hold all the memory kept for "
               "their sectors (EngineOptions::late_copy_memory) for the whole deadline",
               target_.name(), expired->lba);
    stop_framing(expired, errc::late_copies_pending);
    finish_if_done(expired);
  }
}

}  // namespace aoe
