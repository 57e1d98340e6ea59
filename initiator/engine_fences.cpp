// engine_fences.cpp: fences after retransmitted writes.
//
// A write frame sent twice exists twice: once its first answer completes the
// request, the other copy may still sit in a switch queue, on a slow path or
// in the target's queue, and execute later (a target may execute frames in
// any order, docs/aoe-protocol.md §8.10).  If the caller meanwhile wrote the
// same sectors again and got its answer, that late copy would overwrite the
// newer data with the older.  So a completed write with unanswered copies
// leaves a fence on its sectors: new write frames overlapping it wait until
// every copy was answered (a late answer proves that copy executed) or the
// newest copy is older than EngineOptions::write_copy_lifetime.  Reads never
// wait: a late copy rewrites the data the completed write already wrote.
// With no fence, pump() pays one test per frame.
#include <algorithm>
#include <bit>

#include "initiator/engine.h"

namespace aoe {

// The first queued request whose next frame (at most `max_sectors`, what the
// chosen path carries) no fence holds back; null if every one is held.
Engine::Request* Engine::next_to_frame(unsigned max_sectors) {
  if (fences_.empty()) return queue_.front();
  for (Request* r : queue_) {
    if (r->kind != Kind::write) return r;
    std::uint32_t sectors = std::min<std::uint32_t>(max_sectors, r->sectors - r->next_sector);
    if (!fenced(r->lba + r->next_sector, sectors)) return r;
    if (!r->fenced) {
      r->fenced = true;
      ++fenced_writes_;
      log::debug("{}: write at lba {} waits for the late copies of an earlier write", target_.name(),
                 r->lba + r->next_sector);
    }
  }
  return nullptr;
}

bool Engine::fenced(std::uint64_t lba, std::uint32_t sectors) const noexcept {
  return std::any_of(fences_.begin(), fences_.end(),
                     [&](const Fence& f) { return lba < f.lba + f.sectors && f.lba < lba + sectors; });
}

// The slot's write completes with copies that no answer accounts for.  The
// fence covers the widest copy: one sent before the frame was cut covers
// sectors that now belong to other frames.
void Engine::fence_copies(std::uint32_t slot_index) {
  const Slot& s = slots_[slot_index];
  Fence f;
  f.lba = s.request->lba + s.first_sector;
  f.sectors = s.widest;
  f.slot = slot_index;
  f.copies = s.transmissions;
  f.first_generation = (s.generation - s.transmissions + 1) & tag::generation_mask;
  f.unanswered = f.copies >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << f.copies) - 1;
  if (s.answered) {
    std::uint32_t k = (s.answered_generation - f.first_generation) & tag::generation_mask;
    if (k < 64) f.unanswered &= ~(std::uint64_t{1} << k);
  }
  f.expires = s.sent_at + copy_lifetime_;
  fences_.push_back(f);  // reserved for one per slot; more only under heavy loss
  log::debug("{}: lba {}+{} fenced: {} of {} copies unanswered", target_.name(), f.lba, f.sectors,
             std::popcount(f.unanswered), f.copies);
}

// An answer to a copy of an earlier frame of this slot: if it belongs to a
// fence, that copy executed and can no longer overwrite anything.
void Engine::on_late_copy(std::uint32_t slot_index, std::uint32_t generation) {
  for (auto f = fences_.begin(); f != fences_.end(); ++f) {
    if (f->slot != slot_index) continue;
    std::uint32_t k = (generation - f->first_generation) & tag::generation_mask;
    if (k >= f->copies || k >= 64) continue;
    f->unanswered &= ~(std::uint64_t{1} << k);
    if (f->unanswered == 0 && f->copies <= 64) {
      log::debug("{}: lba {}+{}: every copy answered, fence lifted", target_.name(), f->lba, f->sectors);
      fences_.erase(f);
    }
    return;
  }
}

void Engine::expire_fences(Clock::time_point now) {
  std::erase_if(fences_, [now](const Fence& f) { return now >= f.expires; });
}

}  // namespace aoe
