// write_fences.cpp: fences of unanswered write copies, the data kept over
// them, and the repairs that rewrite it (write_fences.h, docs/write-ordering.md).
#include "initiator/write_fences.h"

#include <algorithm>
#include <cstring>

namespace aoe {
namespace {

// What one record and one kept sector cost, with the containers' nodes:
// an estimate on the high side, so the limit holds.
constexpr std::size_t record_cost = 192;
constexpr std::size_t kept_cost = wire::sector_size + 64;
constexpr std::uint64_t max_frame_sectors = 255;

std::uint64_t tag_key(std::uint32_t slot, std::uint32_t generation) {
  return (std::uint64_t{slot} << 32) | generation;
}

}  // namespace

WriteFences::WriteFences(Options options, std::uint32_t slots)
    : options_(options), latest_(slots), has_latest_(slots, false), live_(slots) {}

std::size_t WriteFences::memory() const noexcept {
  return records_.size() * record_cost + kept_.size() * kept_cost + repair_bytes_;
}

template <typename F>
void WriteFences::each_overlapping(std::uint64_t lba, std::uint32_t sectors, F f) const {
  // A record covers at most max_frame_sectors: those that start that far
  // before `lba` are the only ones that can reach it.
  auto it = records_.lower_bound(lba > max_frame_sectors ? lba - max_frame_sectors : 0);
  for (; it != records_.end() && it->first < lba + sectors; ++it)
    if (it->first + it->second.copy.sectors > lba) f(it->second);
}

bool WriteFences::covered(std::uint64_t lba) const {
  bool any = false;
  each_overlapping(lba, 1, [&](const Record&) { any = true; });
  return any;
}

bool WriteFences::repairing(std::uint64_t lba, std::uint32_t sectors) const {
  return std::any_of(repairs_.begin(), repairs_.end(),
                     [&](const Repair& r) { return lba < r.lba + r.sectors && r.lba < lba + sectors; });
}

void WriteFences::sent(const Copy& copy, bool retransmission) {
  if (retransmission && has_latest_[copy.slot]) {
    const Copy& earlier = latest_[copy.slot];
    auto it = records_.emplace(earlier.lba, Record{earlier, true});
    by_tag_.emplace(tag_key(earlier.slot, earlier.generation), it);
    by_path_.emplace(std::pair{earlier.path, earlier.sequence}, it);
    live_[copy.slot].push_back(it);
  }
  latest_[copy.slot] = copy;
  has_latest_[copy.slot] = true;
}

void WriteFences::done(std::uint32_t slot, std::optional<std::uint32_t> answered) {
  auto is_answered = [&](const Copy& c) { return answered && c.generation == *answered; };
  std::vector<Records::iterator> live;
  live.swap(live_[slot]);
  for (auto it : live) {
    if (is_answered(it->second.copy)) {
      forget(it);  // still live: not counted as a fence
      continue;
    }
    it->second.live = false;
    ++fences_;
  }
  if (has_latest_[slot] && !is_answered(latest_[slot])) {
    const Copy& c = latest_[slot];
    auto it = records_.emplace(c.lba, Record{c, false});
    by_tag_.emplace(tag_key(c.slot, c.generation), it);
    by_path_.emplace(std::pair{c.path, c.sequence}, it);
    ++fences_;
  }
  has_latest_[slot] = false;
  live.clear();
  live_[slot].swap(live);  // keeps its capacity for the slot's next frame
}

void WriteFences::forget(Records::iterator it) {
  const Copy& c = it->second.copy;
  auto [first, last] = by_tag_.equal_range(tag_key(c.slot, c.generation));
  for (auto t = first; t != last; ++t)
    if (t->second == it) {
      by_tag_.erase(t);
      break;
    }
  by_path_.erase(std::pair{c.path, c.sequence});
  if (it->second.live) {
    auto& live = live_[c.slot];
    live.erase(std::remove(live.begin(), live.end(), it), live.end());
  } else {
    --fences_;
  }
  records_.erase(it);
}

// The copy can no longer execute, and may have executed after a newer write
// of its sectors: every run of kept sectors it covers is rewritten.
void WriteFences::resolve(Records::iterator it) {
  const std::uint64_t lba = it->second.copy.lba, end = lba + it->second.copy.sectors;
  forget(it);
  dirty_ = true;
  auto k = kept_.lower_bound(lba);
  while (k != kept_.end() && k->first < end) {
    std::uint64_t first = k->first, next = first;
    while (k != kept_.end() && k->first == next && next < end) {
      ++k;
      ++next;
    }
    auto sectors = static_cast<std::uint32_t>(next - first);
    bool queued = std::any_of(repairs_.begin(), repairs_.end(), [&](const Repair& r) {
      return !r.in_flight && r.lba <= first && first + sectors <= r.lba + r.sectors;
    });
    if (!queued) {
      repairs_.push_back(Repair{next_repair_id_++, first, sectors, {}, false});
      ++waiting_repairs_;
    }
  }
}

WriteFences::Answer WriteFences::late_answer(std::uint32_t slot, std::uint32_t generation, unsigned path,
                                             const wire::AtaArg& arg, bool aoe_error) {
  auto [first, last] = by_tag_.equal_range(tag_key(slot, generation));
  if (first == last) return Answer::unknown;
  for (auto t = first; t != last; ++t) {
    Records::iterator it = t->second;
    const Copy& c = it->second.copy;
    if (c.path != path) continue;
    // The echo check of a live answer (wire::answers): the copy's flags,
    // LBA and count; an AoE error answer need not echo them.
    if (!aoe_error && !wire::answers(wire::ata_write(c.lba, c.sectors, options_.lba48), arg)) return Answer::rejected;
    std::uint64_t sequence = c.sequence;
    resolve(it);
    path_answered(path, sequence);
    return Answer::resolved;
  }
  return Answer::rejected;  // from a path the copy was not sent on
}

void WriteFences::path_answered(unsigned path, std::uint64_t sequence) {
  if (!options_.in_order || by_path_.empty()) return;
  auto first = by_path_.lower_bound(std::pair{path, std::uint64_t{0}});
  auto last = by_path_.lower_bound(std::pair{path, sequence});
  if (first == last) return;
  std::vector<Records::iterator> earlier;
  for (auto p = first; p != last; ++p) earlier.push_back(p->second);
  for (auto it : earlier) resolve(it);
}

WriteFences::Admit WriteFences::admit(std::uint64_t lba, std::uint32_t sectors) const {
  if (repairs_.empty() && records_.empty()) return Admit::go;
  if (repairing(lba, sectors)) return Admit::repairing;
  bool overlaps = false;
  each_overlapping(lba, sectors, [&](const Record&) { overlaps = true; });
  if (overlaps && memory() + std::size_t{sectors} * kept_cost > options_.memory_limit) return Admit::full;
  return Admit::go;
}

void WriteFences::framed(std::uint64_t lba, std::uint32_t sectors, const std::byte* data) {
  if (records_.empty() && kept_.empty()) return;
  for (std::uint32_t i = 0; i < sectors; ++i) {
    auto k = kept_.find(lba + i);
    if (k == kept_.end()) {
      if (!covered(lba + i)) continue;
      k = kept_.emplace(lba + i, std::array<std::byte, wire::sector_size>{}).first;
    }
    std::memcpy(k->second.data(), data + std::size_t{i} * wire::sector_size, wire::sector_size);
  }
}

void WriteFences::patch_read(std::uint64_t lba, std::uint32_t sectors, std::byte* data) const {
  if (kept_.empty()) return;
  for (auto k = kept_.lower_bound(lba); k != kept_.end() && k->first < lba + sectors; ++k)
    std::memcpy(data + (k->first - lba) * wire::sector_size, k->second.data(), wire::sector_size);
}

WriteFences::Repair* WriteFences::next_repair() {
  for (Repair& r : repairs_) {
    if (r.in_flight) continue;
    r.data.resize(std::size_t{r.sectors} * wire::sector_size);
    for (std::uint32_t i = 0; i < r.sectors; ++i) {
      auto k = kept_.find(r.lba + i);  // release() keeps every sector a repair covers
      if (k != kept_.end())
        std::memcpy(r.data.data() + std::size_t{i} * wire::sector_size, k->second.data(), wire::sector_size);
    }
    r.in_flight = true;
    --waiting_repairs_;
    repair_bytes_ += r.data.size();
    return &r;
  }
  return nullptr;
}

void WriteFences::repair_done(std::uint64_t id, bool ok) {
  auto r = std::find_if(repairs_.begin(), repairs_.end(), [&](const Repair& x) { return x.id == id; });
  if (r == repairs_.end() || !r->in_flight) return;
  repair_bytes_ -= r->data.size();
  if (ok) {
    repairs_.erase(r);
    ++repairs_done_;
    dirty_ = true;
    return;
  }
  r->in_flight = false;  // sent again at the engine's next look
  r->data = {};
  ++waiting_repairs_;
}

void WriteFences::release(const std::function<bool(std::uint64_t, std::uint32_t)>& reading) {
  if (!dirty_) return;
  dirty_ = false;
  auto k = kept_.begin();
  while (k != kept_.end()) {
    if (covered(k->first) || repairing(k->first, 1)) {
      ++k;
      continue;
    }
    auto first = k;
    std::uint64_t next = k->first;
    while (k != kept_.end() && k->first == next && !covered(next) && !repairing(next, 1)) {
      ++k;
      ++next;
    }
    if (reading(first->first, static_cast<std::uint32_t>(next - first->first))) {
      dirty_ = true;  // a read in flight may have found the older data: it still needs these
      continue;
    }
    kept_.erase(first, k);
  }
}

}  // namespace aoe
