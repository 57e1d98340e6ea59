// frame_table.h: the request and frame core of the engine (engine.h).
//
// The requests of one target, cut into frames of at most what the chosen
// path carries; the table of frames in flight, which the slot field of an
// engine tag indexes (tag.h), with each frame's transmissions and the
// paths they went out on; which answer matches a frame (a generation among
// its transmissions, a path it was sent on, the ATA Arg echoed:
// wire::answers); the queue of frames to send again; and each request's
// completion once every frame of it returned, with the first error if one
// failed (a failed request frames nothing more).
//
// It knows paths only by index, time only by the stamps it is given, and
// nothing of links, fences or scheduling: the engine wires those.  The
// slot table and the retransmit queue are fixed at construction; requests
// come from a pool that keeps the most ever live at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "initiator/block_device.h"
#include "initiator/clock.h"
#include "initiator/recycling_allocator.h"
#include "initiator/tag.h"
#include "initiator/wire.h"

namespace aoe {

class FrameTable {
 public:
  enum class Kind : std::uint8_t { read, write, flush, probe };
  using Completion = BlockDevice::Completion;

  struct Request {
    Kind kind = Kind::read;
    std::uint64_t lba = 0;
    std::uint32_t sectors = 0;       // total
    std::uint32_t next_sector = 0;   // first not yet given to a frame
    std::uint32_t frames_outstanding = 0;
    bool fully_framed = false;       // every sector (or the flush) has a frame
    std::byte* data = nullptr;       // read destination or write source
    Clock::time_point submitted_at{};
    int pinned_path = -1;            // probes: the path they test
    bool fenced = false;             // held back by a fence at least once (write_fences.h)
    bool repair = false;             // a rewrite of kept data (write_fences.h)
    std::error_code error;
    Completion done;
  };

  struct Slot {                      // one frame in flight; indexed by the tag's slot field
    Request* request = nullptr;      // null: free
    std::uint32_t generation = 0;    // of the latest transmission
    std::uint32_t transmissions = 0; // generations [generation - transmissions + 1, generation] are this frame's
    std::uint32_t first_sector = 0;  // offset within the request
    std::uint8_t sectors = 0;
    bool answered = false;           // a reply to answered_generation arrived
    std::uint32_t answered_generation = 0;
    unsigned path = 0;               // of the latest transmission
    std::uint64_t sequence = 0;      // path sequence of the latest transmission
    std::uint64_t paths_sent = 0;    // path_bit() of every path a transmission went out on
    Clock::time_point sent_at{};     // latest transmission
    Clock::time_point first_sent_at{};
    bool queued_for_retransmit = false;
  };

  // How the target encodes what the frames echo.
  struct Addressing {
    bool lba48 = true;
    bool flush_ext = false;  // FLUSH CACHE EXT rather than FLUSH CACHE
  };

  using Completions = std::vector<std::pair<Completion, std::error_code>>;

  // `slots` at most tag::slot_count.  Generations start at random (tag.h).
  explicit FrameTable(Addressing addressing, std::uint32_t slots = tag::slot_count);

  // --- requests
  // A request with its fields reset, counted live until it completes.
  Request* make(Kind kind, std::uint64_t lba, std::uint32_t sectors, std::byte* data, Clock::time_point now,
                Completion done);
  // Queued for framing, behind the others (or, for repairs, before them).
  void enqueue(Request* request, bool front = false);
  // Requests with sectors (or a flush) not yet framed, oldest first.
  const auto& queue() const noexcept { return queue_; }
  std::size_t live_requests() const noexcept { return live_; }
  // Frames the queued requests still need at `per_frame` sectors each, and
  // the frames waiting to be sent again.
  std::size_t waiting_frames(unsigned per_frame) const noexcept;

  // --- frames
  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }
  Slot& operator[](std::uint32_t slot) noexcept { return slots_[slot]; }
  const Slot& operator[](std::uint32_t slot) const noexcept { return slots_[slot]; }
  bool has_free_slot() const noexcept { return !free_slots_.empty(); }
  std::size_t frames_in_flight() const noexcept { return slots_.size() - free_slots_.size(); }
  // The next frame of a queued request: its next sectors, at most
  // `max_sectors` (a flush: one frame), in a free slot (there must be one).
  // A request whose last sector got a frame leaves the queue.
  std::uint32_t frame(Request* request, unsigned max_sectors);
  // The one frame of a request never queued (a probe): all its sectors.
  std::uint32_t frame_whole(Request* request);
  // Cuts a frame bigger than `max_sectors` (its path's payload was lowered
  // after it was sent): the rest of its sectors go into a new frame of the
  // same request, queued to send behind it (and cut in turn), whose
  // deadline runs from the first send.  False, nothing cut: no free slot.
  bool fit(std::uint32_t slot, unsigned max_sectors);
  // Records a transmission on `path` (its sequence there) and returns the
  // frame's new tag: each transmission has a generation of its own.
  std::uint32_t transmitted(std::uint32_t slot, unsigned path, std::uint64_t sequence, Clock::time_point now);
  // What the frame asks the target, and what an answer must echo.
  wire::AtaArg ata_arg(std::uint32_t slot) const noexcept;

  // --- answers (to a slot in use)
  // Transmissions of the frame now in the slot before the one `tag` names;
  // at least its transmissions: an answer to an earlier frame of the slot.
  std::uint32_t age(std::uint32_t tag) const noexcept;
  bool earlier(std::uint32_t tag) const noexcept {
    return age(tag) >= slots_[tag::slot_of(tag)].transmissions;
  }
  bool sent_on(std::uint32_t slot, unsigned path) const noexcept {
    return (slots_[slot].paths_sent & path_bit(path)) != 0;
  }
  // The answer's ATA Arg echoes the frame's flags, LBA and count.
  bool echoes(std::uint32_t slot, const wire::AtaArg& answer) const noexcept {
    return wire::answers(ata_arg(slot), answer);
  }
  void answered(std::uint32_t tag) noexcept;

  // --- frames to send again, oldest first
  void queue_retransmit(std::uint32_t slot);
  bool retransmit_waiting() const noexcept { return !retransmits_.empty(); }
  std::uint32_t next_retransmit() const noexcept { return retransmits_.front(); }
  void pop_retransmit();

  // --- completion
  // The frame returned (`ec`: failed, which fails its request): its slot is
  // free again, and its request completes if it was its last frame.
  void complete(std::uint32_t slot, std::error_code ec);
  // Fails a request: it frames nothing more, and completes with the first
  // error once its frames in flight returned (at once if none is).
  void fail(Request* request, std::error_code ec);
  // Fails every queued request (fail): one with frames in flight completes
  // when they return.
  void fail_queued(std::error_code ec);
  // The completions of the requests that finished, oldest first, handed to
  // `into` (emptied first); run them once the state settled.
  void take_completions(Completions& into) noexcept;
  bool completions_waiting() const noexcept { return !completions_.empty(); }

  // A frame's paths as bits; past 63 paths (NICs x target ports) they
  // share the last bit, which only weakens the source check for those.
  static std::uint64_t path_bit(unsigned path) noexcept { return std::uint64_t{1} << std::min(path, 63u); }

 private:
  std::uint32_t take_slot(Request* request, std::uint32_t first_sector, std::uint32_t sectors);
  void finish_if_done(Request* request);

  Addressing addressing_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> retransmits_;  // FIFO of slots; capacity reserved: never allocates
  std::deque<Request*, RecyclingAllocator<Request*>> queue_;
  std::vector<std::unique_ptr<Request>> pool_;
  std::vector<Request*> free_requests_;
  std::size_t live_ = 0;
  Completions completions_;
};

}  // namespace aoe
