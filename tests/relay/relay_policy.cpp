// relay_policy.cpp: see relay_policy.h.
#include "tests/relay/relay_policy.h"

#include <algorithm>
#include <bit>

namespace aoe::relay {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint8_t byte_at(std::span<const std::byte> frame, std::size_t i) noexcept {
  return std::to_integer<std::uint8_t>(frame[i]);
}

bool is_aoe(std::span<const std::byte> frame) noexcept {
  return frame.size() >= aoe_header_end && byte_at(frame, 12) == 0x88 && byte_at(frame, 13) == 0xA2;
}

}  // namespace

Rng::Rng(std::uint64_t seed) noexcept {
  for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Rng::next() noexcept {
  const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

double Rng::uniform() noexcept {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

std::uint64_t Rng::below(std::uint64_t n) noexcept {
  return next() % n;  // the modulo bias is irrelevant at test sizes
}

bool Rng::chance(double p) noexcept {
  if (p <= 0) return false;  // draw nothing: a fault that is off leaves the stream alone
  if (p >= 1) return true;
  return uniform() < p;
}

Decision Policy::decide(std::span<const std::byte> frame) noexcept {
  Decision d;
  if (faults_.max_frame != 0 && frame.size() > faults_.max_frame) {
    d.verdict = Verdict::oversize;
    return d;
  }
  if (rng_.chance(faults_.loss)) {
    d.verdict = Verdict::lost;
    return d;
  }
  if (rng_.chance(faults_.corrupt) && is_aoe(frame)) {
    // Truncation half the time; otherwise one header field, each equally likely.
    const bool can_truncate = frame.size() > aoe_header_end;
    switch (rng_.below(2) == 0 && can_truncate ? 0 : 1 + rng_.below(4)) {
      case 0:
        d.damage = Damage::truncate;
        d.truncate_to = aoe_header_end + rng_.below(frame.size() - aoe_header_end);
        break;
      case 1:
        d.damage = Damage::version;
        d.offset = aoe_ver_flags_offset;
        d.mask = static_cast<std::uint8_t>((1 + rng_.below(15)) << 4);  // high nibble only
        break;
      case 2: {
        d.damage = Damage::shelf;
        // XOR one of the two shelf bytes, but never into the broadcast shelf.
        const unsigned shelf = (byte_at(frame, aoe_shelf_offset) << 8) | byte_at(frame, aoe_shelf_offset + 1);
        unsigned mask16 = 0;
        do {
          auto m = static_cast<unsigned>(1 + rng_.below(255));
          mask16 = rng_.below(2) == 0 ? m << 8 : m;
        } while ((shelf ^ mask16) == 0xFFFF);
        d.offset = aoe_shelf_offset + (mask16 > 0xFF ? 0 : 1);
        d.mask = static_cast<std::uint8_t>(mask16 > 0xFF ? mask16 >> 8 : mask16);
        break;
      }
      case 3: {
        d.damage = Damage::slot;
        d.offset = aoe_slot_offset;
        const std::uint8_t slot = byte_at(frame, aoe_slot_offset);
        do d.mask = static_cast<std::uint8_t>(1 + rng_.below(255));
        while ((slot ^ d.mask) == 0xFF);
        break;
      }
      default: {
        d.damage = Damage::command;
        // Into 4..0xEF: neither an assigned command nor a vendor-specific one.
        d.offset = aoe_command_offset;
        const std::uint8_t cmd = byte_at(frame, aoe_command_offset);
        do d.mask = static_cast<std::uint8_t>(1 + rng_.below(255));
        while ((cmd ^ d.mask) < 4 || (cmd ^ d.mask) > 0xEF);
        break;
      }
    }
  }
  if (rng_.chance(faults_.duplicate)) d.copies = 2;
  // A duplicated frame is not also held: holding it behind its own copy is no reordering.
  if (rng_.chance(faults_.reorder) && d.copies == 1) d.hold = true;
  for (unsigned i = 0; i < d.copies; ++i) {
    d.delay[i] = faults_.delay;
    if (faults_.jitter.count() > 0)
      d.delay[i] += Micros(static_cast<Micros::rep>(rng_.below(static_cast<std::uint64_t>(faults_.jitter.count()) + 1)));
  }
  return d;
}

std::size_t apply_damage(std::span<std::byte> frame, const Decision& d) noexcept {
  if (frame.size() < aoe_header_end) return frame.size();
  if (d.damage == Damage::none) return frame.size();
  if (d.damage == Damage::truncate) return std::clamp(d.truncate_to, aoe_header_end, frame.size());
  // Header damage stays inside the AoE header whatever the decision says.
  if (d.offset >= aoe_ver_flags_offset && d.offset < aoe_header_end) frame[d.offset] ^= std::byte{d.mask};
  return frame.size();
}

std::vector<std::byte> Pipeline::take_buffer(std::span<const std::byte> frame) {
  if (spare_.empty()) return {frame.begin(), frame.end()};
  auto buffer = std::move(spare_.back());
  spare_.pop_back();
  buffer.assign(frame.begin(), frame.end());
  return buffer;
}

void Pipeline::give_buffer(std::vector<std::byte> buffer) {
  if (spare_.size() < 1024) spare_.push_back(std::move(buffer));
}

void Pipeline::push(std::span<const std::byte> frame, Clock::time_point now, const Sink& sink) {
  release(now, sink);
  ++counters_.received;
  Decision d = policy_.decide(frame);
  if (d.verdict == Verdict::lost) {
    ++counters_.lost;
    return;
  }
  if (d.verdict == Verdict::oversize) {
    ++counters_.oversize;
    return;
  }
  auto bytes = take_buffer(frame);
  if (d.damage != Damage::none) {
    bytes.resize(apply_damage(bytes, d));
    ++(d.damage == Damage::truncate ? counters_.truncated : counters_.header_damaged);
  }
  if (d.copies > 1) ++counters_.duplicated;
  for (unsigned i = 0; i < d.copies; ++i) {
    Entry entry{i + 1 < d.copies ? bytes : std::move(bytes), d.hold};
    if (d.delay[i].count() == 0) {
      emit(std::move(entry), now, sink);
    } else if (queue_.size() >= queue_limit_) {
      ++counters_.queue_full;
      give_buffer(std::move(entry.bytes));
    } else {
      ++counters_.delayed;
      queue_.emplace(std::pair{now + d.delay[i], sequence_++}, std::move(entry));
    }
  }
}

void Pipeline::release(Clock::time_point now, const Sink& sink) {
  while (!queue_.empty() && queue_.begin()->first.first <= now) {
    Entry entry = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    emit(std::move(entry), now, sink);
  }
  if (held_ && now >= held_until_) {
    ++counters_.hold_timeouts;
    send(*held_, sink);
    give_buffer(std::move(held_->bytes));
    held_.reset();
  }
}

void Pipeline::flush(const Sink& sink) {
  while (!queue_.empty()) {
    Entry entry = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    entry.hold = false;
    emit(std::move(entry), Clock::time_point::max(), sink);
  }
  if (held_) {
    send(*held_, sink);
    held_.reset();
  }
}

std::optional<Clock::time_point> Pipeline::next_deadline() const {
  std::optional<Clock::time_point> t;
  if (!queue_.empty()) t = queue_.begin()->first.first;
  if (held_ && (!t || held_until_ < *t)) t = held_until_;
  return t;
}

void Pipeline::emit(Entry entry, Clock::time_point now, const Sink& sink) {
  if (entry.hold && !held_) {
    held_ = std::move(entry);
    held_until_ = now == Clock::time_point::max() ? now : now + policy_.faults().hold_timeout;
    return;
  }
  send(entry, sink);
  give_buffer(std::move(entry.bytes));
  if (held_) {
    ++counters_.reordered;
    send(*held_, sink);
    give_buffer(std::move(held_->bytes));
    held_.reset();
  }
}

void Pipeline::send(const Entry& entry, const Sink& sink) {
  ++counters_.delivered;
  sink(entry.bytes);
}

}  // namespace aoe::relay
