#include "initiator/frame_table.h"

#include <algorithm>

namespace aoe {

FrameTable::FrameTable(Addressing addressing, std::uint32_t slots)
    : addressing_(addressing), slots_(std::min(slots, tag::slot_count)) {
  free_slots_.reserve(slots_.size());
  retransmits_.reserve(slots_.size());
  for (auto i = static_cast<std::uint32_t>(slots_.size()); i-- > 0;) free_slots_.push_back(i);
  std::vector<std::uint32_t> start(slots_.size());
  tag::random_bits(start);
  for (std::size_t i = 0; i < slots_.size(); ++i) slots_[i].generation = start[i] & tag::generation_mask;
}

FrameTable::Request* FrameTable::make(Kind kind, std::uint64_t lba, std::uint32_t sectors, std::byte* data,
                                      Clock::time_point now, Completion done) {
  Request* r;
  if (free_requests_.empty()) {
    pool_.push_back(std::make_unique<Request>());
    r = pool_.back().get();
  } else {
    r = free_requests_.back();
    free_requests_.pop_back();
  }
  *r = Request{};
  r->kind = kind;
  r->lba = lba;
  r->sectors = sectors;
  r->data = data;
  r->submitted_at = now;
  r->done = std::move(done);
  ++live_;
  return r;
}

void FrameTable::enqueue(Request* r, bool front) {
  if (front)
    queue_.push_front(r);
  else
    queue_.push_back(r);
}

std::size_t FrameTable::waiting_frames(unsigned per_frame) const noexcept {
  std::size_t n = retransmits_.size();
  per_frame = std::max(1u, per_frame);
  for (const Request* r : queue_)
    n += r->kind == Kind::flush ? 1 : (r->sectors - r->next_sector + per_frame - 1) / per_frame;
  return n;
}

std::uint32_t FrameTable::take_slot(Request* r, std::uint32_t first_sector, std::uint32_t sectors) {
  std::uint32_t i = free_slots_.back();
  free_slots_.pop_back();
  Slot& s = slots_[i];
  s.request = r;
  s.first_sector = first_sector;
  s.sectors = static_cast<std::uint8_t>(sectors);
  s.transmissions = 0;
  ++r->frames_outstanding;
  return i;
}

std::uint32_t FrameTable::frame(Request* r, unsigned max_sectors) {
  std::uint32_t i = take_slot(r, r->next_sector, std::min(max_sectors, r->sectors - r->next_sector));
  r->next_sector += slots_[i].sectors;
  if (r->kind == Kind::flush || r->next_sector == r->sectors) {
    r->fully_framed = true;
    if (r == queue_.front())
      queue_.pop_front();
    else  // it overtook requests held by a fence
      queue_.erase(std::find(queue_.begin(), queue_.end(), r));
  }
  return i;
}

std::uint32_t FrameTable::frame_whole(Request* r) {
  r->next_sector = r->sectors;
  r->fully_framed = true;
  return take_slot(r, 0, r->sectors);
}

bool FrameTable::fit(std::uint32_t i, unsigned max_sectors) {
  if (slots_[i].sectors > max_sectors) {
    if (free_slots_.empty()) return false;
    Slot& s = slots_[i];
    std::uint32_t j = take_slot(s.request, s.first_sector + max_sectors, s.sectors - max_sectors);
    Slot& rest = slots_[j];
    rest.first_sent_at = s.first_sent_at;  // the deadline runs from the first send
    rest.queued_for_retransmit = true;
    s.sectors = static_cast<std::uint8_t>(max_sectors);
    retransmits_.push_back(j);
  }
  return true;
}

std::uint32_t FrameTable::transmitted(std::uint32_t i, unsigned path, std::uint64_t sequence,
                                      Clock::time_point now) {
  Slot& s = slots_[i];
  s.generation = (s.generation + 1) & tag::generation_mask;
  ++s.transmissions;
  if (s.first_sent_at == Clock::time_point{}) s.first_sent_at = now;
  s.sent_at = now;
  s.path = path;
  s.sequence = sequence;
  s.paths_sent |= path_bit(path);
  return tag::engine(i, s.generation);
}

wire::AtaArg FrameTable::ata_arg(std::uint32_t i) const noexcept {
  const Slot& s = slots_[i];
  const Request& r = *s.request;
  std::uint64_t lba = r.lba + s.first_sector;
  return r.kind == Kind::write   ? wire::ata_write(lba, s.sectors, addressing_.lba48)
         : r.kind == Kind::flush ? wire::ata_flush(addressing_.flush_ext)
                                 : wire::ata_read(lba, s.sectors, addressing_.lba48);  // read or probe
}

std::uint32_t FrameTable::age(std::uint32_t t) const noexcept {
  return (slots_[tag::slot_of(t)].generation - tag::generation_of(t)) & tag::generation_mask;
}

void FrameTable::answered(std::uint32_t t) noexcept {
  Slot& s = slots_[tag::slot_of(t)];
  s.answered = true;
  s.answered_generation = tag::generation_of(t);
}

void FrameTable::queue_retransmit(std::uint32_t i) {
  slots_[i].queued_for_retransmit = true;
  retransmits_.push_back(i);
}

void FrameTable::pop_retransmit() {
  slots_[retransmits_.front()].queued_for_retransmit = false;
  retransmits_.erase(retransmits_.begin());
}

void FrameTable::complete(std::uint32_t i, std::error_code ec) {
  Slot& s = slots_[i];
  Request* r = s.request;
  if (s.queued_for_retransmit) {
    s.queued_for_retransmit = false;
    retransmits_.erase(std::find(retransmits_.begin(), retransmits_.end(), i));
  }
  s.request = nullptr;
  s.transmissions = 0;
  s.paths_sent = 0;
  s.answered = false;
  s.first_sent_at = {};
  free_slots_.push_back(i);
  --r->frames_outstanding;
  if (ec) return fail(r, ec);
  finish_if_done(r);
}

void FrameTable::fail(Request* r, std::error_code ec) {
  if (!r->error) r->error = ec;
  if (!r->fully_framed) {
    r->fully_framed = true;
    queue_.erase(std::find(queue_.begin(), queue_.end(), r));
  }
  finish_if_done(r);
}

void FrameTable::fail_queued(std::error_code ec) {
  while (!queue_.empty()) fail(queue_.front(), ec);
}

void FrameTable::finish_if_done(Request* r) {
  if (r->frames_outstanding != 0 || !r->fully_framed) return;
  completions_.emplace_back(std::move(r->done), r->error);
  r->done = nullptr;
  --live_;
  free_requests_.push_back(r);
}

void FrameTable::take_completions(Completions& into) noexcept {
  into.clear();
  into.swap(completions_);
}

}  // namespace aoe
