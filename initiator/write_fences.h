// write_fences.h: what keeps a late copy of a write from undoing a later
// write of the same sectors (docs/write-ordering.md).
//
// A write frame sent more than once exists more than once, and a copy can
// sit in a stalled target's queue for minutes before it executes.  This
// class records every copy that no answer accounts for (a "fence"), and
// lifts it only on evidence that the copy can no longer execute: its own
// answer (echo-checked like a live one), or, for ports known to serve
// their frames in order, an answer to a frame sent later on the same path.
// Time is never evidence.
//
// Writes are not held back by a fence.  A write framed over fenced sectors
// keeps its data here ("kept" sectors); reads of those sectors return the
// kept data whatever the disk holds; and when a fence lifts and kept data
// covers its copy's sectors (the copy may have executed after the newer
// write), the engine rewrites the kept data ("repair") before the sectors
// are released.  Writes overlapping a repair wait for it, so it never
// lands on top of something newer.  What is kept is bounded by
// Options::memory_limit; at the limit, writes over fenced sectors wait
// (and fail at the engine's deadline) rather than go out unprotected.
//
// The engine calls the hooks below; this class knows nothing of paths,
// slots or requests beyond the numbers it is given, and never allocates
// unless a write was sent twice.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "initiator/wire.h"

namespace aoe {

class WriteFences {
 public:
  struct Options {
    bool lba48 = true;  // how the copies' LBAs were encoded (for the echo check)
    // Ports serve each path's frames in the order they arrive (vblade: one
    // process per port, reading one socket): an answer to a later frame on
    // a path proves every earlier one executed or was dropped.  Off: only a
    // copy's own answer lifts its fence.
    bool in_order = false;
    // Bytes of kept data, fence records and repair buffers at most.
    std::size_t memory_limit = std::size_t{32} << 20;
  };

  // One transmission of a write frame.
  struct Copy {
    std::uint32_t slot = 0;        // the engine's frame slot (tag)
    std::uint32_t generation = 0;  // the tag's generation
    unsigned path = 0;             // the path it went out on
    std::uint64_t sequence = 0;    // that path's transmissions before it
    std::uint64_t lba = 0;
    std::uint8_t sectors = 0;
  };

  // A rewrite of kept data after a fence over it lifted.
  struct Repair {
    std::uint64_t id = 0;
    std::uint64_t lba = 0;
    std::uint32_t sectors = 0;
    std::vector<std::byte> data;  // the kept data when the repair went out
    bool in_flight = false;
  };

  enum class Admit { go, repairing, full };
  enum class Answer { resolved, unknown, rejected };

  explicit WriteFences(Options options, std::uint32_t slots);

  // Every transmission of a write frame; `retransmission`: the slot's
  // earlier transmission of the same frame becomes a copy to account for.
  void sent(const Copy& copy, bool retransmission);
  // The slot's write frame completed (answered through `answered`, or
  // failed without an answer): its other copies become fences.
  void done(std::uint32_t slot, std::optional<std::uint32_t> answered);
  // An answer whose frame already completed.  `aoe_error`: the AoE E flag,
  // whose answers need not echo the Arg (as for live answers).
  Answer late_answer(std::uint32_t slot, std::uint32_t generation, unsigned path, const wire::AtaArg& arg,
                     bool aoe_error);
  // A live answer to the frame sent as `sequence` on `path`.
  void path_answered(unsigned path, std::uint64_t sequence);

  // Whether a new write frame may go out now, and (if it goes) its data.
  Admit admit(std::uint64_t lba, std::uint32_t sectors) const;
  void framed(std::uint64_t lba, std::uint32_t sectors, const std::byte* data);
  // A read frame's answer: kept sectors replace what the disk returned.
  void patch_read(std::uint64_t lba, std::uint32_t sectors, std::byte* data) const;

  // The next repair to send (its data filled now), or null.
  Repair* next_repair();
  void repair_done(std::uint64_t id, bool ok);
  // Lets kept sectors go that no fence or repair covers and that no read
  // in flight (`reading(lba, sectors)`) may still need.
  void release(const std::function<bool(std::uint64_t, std::uint32_t)>& reading);
  // Repairs to send or kept sectors to release: the engine should look again.
  bool wants_tick() const noexcept { return dirty_ || waiting_repairs_ > 0; }

  std::size_t fences() const noexcept { return fences_; }
  std::size_t kept_sectors() const noexcept { return kept_.size(); }
  std::size_t memory() const noexcept;
  std::uint64_t repairs() const noexcept { return repairs_done_; }
  bool empty() const noexcept { return records_.empty() && kept_.empty() && repairs_.empty(); }

 private:
  struct Record {
    Copy copy;
    bool live = true;  // its frame is still in flight
  };
  using Records = std::multimap<std::uint64_t, Record>;  // by lba

  void resolve(Records::iterator it);
  void forget(Records::iterator it);
  bool covered(std::uint64_t lba) const;
  bool repairing(std::uint64_t lba, std::uint32_t sectors) const;
  template <typename F>
  void each_overlapping(std::uint64_t lba, std::uint32_t sectors, F f) const;

  Options options_;
  std::vector<Copy> latest_;                 // per slot: its latest write transmission
  std::vector<bool> has_latest_;
  std::vector<std::vector<Records::iterator>> live_;  // per slot: earlier copies of its frame in flight
  Records records_;
  std::unordered_multimap<std::uint64_t, Records::iterator> by_tag_;  // slot << 32 | generation
  std::map<std::pair<unsigned, std::uint64_t>, Records::iterator> by_path_;  // (path, sequence)
  std::size_t fences_ = 0;                   // records of completed frames
  std::map<std::uint64_t, std::array<std::byte, wire::sector_size>> kept_;
  std::list<Repair> repairs_;
  std::size_t waiting_repairs_ = 0;          // not in flight
  std::size_t repair_bytes_ = 0;
  std::uint64_t next_repair_id_ = 1;
  std::uint64_t repairs_done_ = 0;
  bool dirty_ = false;                       // something may be releasable
};

}  // namespace aoe
