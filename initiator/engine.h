// engine.h: the request engine for one AoE target (the aoecmd.c of this project).
//
// It turns sector-aligned reads, writes and flushes of up to 32 MiB into
// ATA frames of the target's payload size, sends each frame on the path
// that is expected to answer it first, retransmits on timeout under a
// fresh tag, and completes a request when every one of its frames was
// answered.  A frame unanswered for the deadline fails its request with
// EIO and marks the target down; requests then fail fast until
// target_answered() says it is back.
//
// The engine wires the parts that decide:
// - initiator/frame_table.h (FrameTable): the requests cut into frames,
//   the slot table the tags index, which answer matches a frame, the
//   frames to send again, and completing requests;
// - initiator/path.h: one path's state, RTT estimator and congestion window;
// - initiator/path_health.h (PathHealth): which paths exist and which work:
//   failure after silent loss episodes, probes, the jumbo fallback, link
//   events, rediscovery; frames of a failed path move to the others;
// - initiator/scheduler.h (Scheduler): which path carries the next frame;
// - initiator/timer_service.h: the clock and the tick, real or simulated.
// engine.cpp is the core (sending frames, replies, timeouts, completions);
// engine_paths.cpp what the path health asks of it and the path events
// from outside; engine_fences.cpp the hooks into the fences of retransmitted writes
// (initiator/write_fences.h: WriteFences).
//
// A write that was transmitted more than once fences its sectors until there
// is evidence that its other copies can no longer execute; a later write of
// those sectors keeps its data until then, and is written again should a
// late copy land on top of it (write_fences.h).  A FLUSH CACHE that
// fails, ABRT included, fails its request: a flush means durable or an error.
//
// Frames go out in batches: transmit() queues the frames of a pump pass and
// flush_sends() hands each link its share in one call (PacketLink: sendmmsg).
// Replies are settled once per turn of the io_context, not per frame: the
// frames of one wake-up complete their slots, then one pass refills the
// windows and sends, then the completions run.
//
// Everything runs on one io_context thread; after start-up nothing on the
// per-frame path allocates (the frame table and the send queue are fixed).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "initiator/block_device.h"
#include "initiator/errors.h"
#include "initiator/frame_table.h"
#include "initiator/handler_memory.h"
#include "base/log.h"
#include "initiator/path.h"
#include "initiator/path_health.h"
#include "initiator/scheduler.h"
#include "initiator/tag.h"
#include "initiator/target.h"
#include "initiator/timer_service.h"
#include "initiator/write_fences.h"

namespace aoe {

// The path tunables (RTT limits, windows, probes, failure) are PathOptions
// (initiator/path_health.h).
struct EngineOptions : PathOptions {
  // A frame unanswered this long fails its request and marks the target
  // down (the kernel's aoe_deadsecs is 180 s; Plan 9 gives up after 45 s).
  // Zero retries forever.
  std::chrono::milliseconds deadline = std::chrono::seconds(60);
  // Largest request accepted, the kernel nbd driver's max_hw_sectors.
  std::size_t max_request_bytes = 32u << 20;
  // The clock and timers of every decision by time (RTT samples, timeouts,
  // the deadline, probes, the tick that makes the engine look again); null:
  // real time on the io_context.  Tests put a clock they move by hand here
  // (tests/support/manual_clock.h).  It must outlive the engine.
  TimerService* timers = nullptr;
  // Late copies of writes (initiator/write_fences.h, docs/write-ordering.md).
  // in_order_ports: every target port serves the frames of each path in the
  // order they arrive (vblade, one process per port, does; a target with a
  // command queue or several threads, such as qaoed, need not), so an
  // answer on a path proves every frame sent earlier on it executed or was
  // dropped.  Off (the default) assumes nothing: only a copy's own answer
  // ends its fence.  late_copy_memory bounds the data kept for sectors that
  // a late copy may still overwrite, with the fences' records; at the
  // bound, writes over fenced sectors wait, and fail after the deadline.
  bool in_order_ports = false;
  std::size_t late_copy_memory = std::size_t{32} << 20;
};

class Engine final : public BlockDevice {
 public:
  Engine(boost::asio::io_context& io, TargetInfo target, EngineOptions options = {});
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // BlockDevice
  std::uint64_t size_bytes() const noexcept override;
  bool can_flush() const noexcept override;
  std::size_t max_request_bytes() const noexcept override { return options_.max_request_bytes; }
  void async_read(std::uint64_t offset, std::span<std::byte> data, Completion done) override;
  void async_write(std::uint64_t offset, std::span<const std::byte> data, Completion done) override;
  void async_flush(Completion done) override;
  // The target has no flush to offer (it aborted the one sent before
  // serving, daemon/attached_target.cpp): flushes complete at once from now
  // on, as for a target whose IDENTIFY offers none.  Before serving only.
  void refuse_flush() noexcept { flush_refused_ = true; }

  // Offers a received frame; returns false if it is not an engine frame
  // (so the caller can hand it to discovery).  Call from every Link receiver.
  // A reply completes a frame only if it answers that frame: its tag, the
  // port of a path the frame was sent on (not retired), shelf.slot, command
  // and what the target echoes of the ATA Arg (wire::answers); anything
  // else counts as a rejected reply.  An unsolicited Query Config answer
  // (tag 0: the target announcing itself, restarted perhaps with another
  // disk) from a known port suspends that port like quarantine() does.
  bool on_frame(Link& link, std::span<const std::byte> frame);

  // The target answered Query Config again: requests are accepted again.
  void target_answered();

  // Rediscovery results: new (link, port) pairs join as paths; known ones
  // take the new Buffer Count, Sector Count and MTU (a path whose payload
  // was lowered is probed at the full size again).  A failed path missing
  // from misses_to_retire lists in a row is retired: no longer probed or
  // shown, back if listed.
  void update_paths(const std::vector<PathInfo>& paths);
  // Rediscovery found the port `mac` answering as another disk: its paths
  // stop at once (their frames move) and stay out until a rediscovery lists
  // them again, which only an IDENTIFY agreeing with the attached disk does.
  void quarantine(const wire::Mac& mac);
  // The same for a port that announced itself: suspended until a
  // rediscovery lists it again after IDENTIFY.
  void suspend(const wire::Mac& mac);

  // A local NIC went down (its paths stop at once, their frames move to the
  // others) or came back (its paths are probed and rejoin when they answer).
  void set_link_state(const Link& link, bool up);
  bool is_down() const noexcept { return down_; }
  // Rediscovery found a new capacity: requests are checked against it (never
  // beyond what the addressing mode reaches).
  void set_capacity(std::uint64_t sectors) noexcept {
    target_.identity.sectors = std::min(sectors, wire::max_sectors(target_.identity.lba48));
  }
  // Called once each time the deadline marks the target down, so its owner
  // can look for it more often than the usual rediscovery interval.
  void set_down_listener(std::function<void()> listener) { down_listener_ = std::move(listener); }

  // Fails every queued and in-flight request, and every later one, with
  // `why`: errc::shutting_down, or errc::abandoned (EIO) when a stop cannot
  // wait for the target any longer (daemon/attached_target.h, hurry()).
  void shutdown(std::error_code why = errc::shutting_down);

  const TargetInfo& target() const noexcept { return target_; }
  // Sectors per frame on the weakest working path (each path cuts its own).
  unsigned payload_sectors() const noexcept { return paths_.payload_sectors(); }
  std::size_t in_flight_requests() const noexcept { return frames_.live_requests(); }
  std::uint64_t stray_replies() const noexcept { return stray_replies_; }
  // Writes held back by a repair or at the late_copy_memory bound; copies of
  // completed writes that may still execute; sectors whose newer data is
  // kept over them; repairs done (write_fences.h).
  std::uint64_t fenced_writes() const noexcept { return fenced_writes_; }
  std::size_t fences() const noexcept { return fences_.fences(); }
  std::size_t kept_sectors() const noexcept { return fences_.kept_sectors(); }
  std::uint64_t repairs() const noexcept { return fences_.repairs(); }
  std::vector<PathStatus> path_status() const;

 private:
  using Kind = FrameTable::Kind;
  using Request = FrameTable::Request;
  using Slot = FrameTable::Slot;

  // A frame transmit() made, sent with the others of its pass (flush_sends).
  struct Outgoing {
    Link* link = nullptr;
    unsigned path = 0;
    std::size_t head_size = 0;
    std::array<std::byte, wire::min_frame_size> header{};  // a read's is padded with zeros
    std::span<const std::byte> body;                       // write data, in the request's buffer
  };

  void submit(Kind kind, std::uint64_t offset, std::byte* data, std::size_t length, Completion done);
  void complete_soon(Completion done, std::error_code ec);
  void pump();
  void send_new_frame(unsigned path_index, Request* request);
  Request* next_to_frame(unsigned max_sectors);
  void on_late_answer(int sender, const wire::Frame& frame);
  void start_repairs();
  void settle_fences(Clock::time_point now);
  void transmit(std::uint32_t slot_index, unsigned path_index);
  void flush_sends();
  void settle_soon();
  void on_timeout(std::uint32_t slot_index, Clock::time_point now);
  void move_frames(unsigned path_index);
  void send_probe(unsigned path_index, unsigned sectors);
  void on_reply(Link& link, const wire::Frame& frame);
  void on_announcement(const wire::Header& header);
  void retire_port(const wire::Mac& mac, const char* why);
  void complete_frame(std::uint32_t slot_index, std::error_code ec);
  void count_rejected(std::uint32_t tag);
  void fail_all(std::error_code ec);
  void on_tick();
  // What one look over the frames in flight finds, for the tick.
  struct FrameSurvey {
    bool io_in_flight = false;   // a read, write or flush frame (not a probe)
    bool past_deadline = false;  // one first sent a deadline ago
    bool timed_out = false;      // one unanswered for its timeout, not yet queued again
  };
  FrameSurvey survey_frames(Clock::time_point now) const;
  Duration timeout_of(const Slot& s) const;
  void receive_waiting();
  void forgive_own_stall(Duration late);
  void arm_timer();
  void mark_down();
  void run_completions();

  boost::asio::io_context& io_;
  TargetInfo target_;
  EngineOptions options_;
  FrameTable frames_;                            // the requests and their frames in flight
  FrameTable::Completions running_completions_;  // the batch being run (keeps its capacity)
  std::vector<Outgoing> outbox_;                 // frames of this pass, not sent yet
  std::vector<Link::Outgoing> sending_;          // one link's share of the outbox
  std::vector<unsigned> sending_paths_;          // the path of each of those
  bool settle_posted_ = false;                   // replies received: settle_soon() posted
  bool in_completions_ = false;
  Clock::time_point stalled_since_{};            // requests queued, nothing in flight to send them
  std::uint64_t stray_replies_ = 0;              // answers to frames already completed
  WriteFences fences_;
  std::uint64_t fenced_writes_ = 0;
  bool fence_held_ = false;                      // the last pump left writes waiting on fences_
  bool flush_refused_ = false;                   // refuse_flush(): the target has none
  std::vector<std::byte> probe_buffer_;          // where probe reads land (content unused)
  bool down_ = false;
  bool stopped_ = false;
  std::error_code stop_error_;  // what shutdown() fails requests with
  bool in_pump_ = false;
  std::unique_ptr<TimerService> own_timers_;     // real time, when EngineOptions::timers is null
  TimerService& timers_;
  std::unique_ptr<Timer> timer_;                 // the tick
  PathHealth paths_;                             // which paths exist, and which work
  Scheduler scheduler_;                          // which path carries the next frame
  bool timer_armed_ = false;
  Clock::time_point tick_due_{};                 // when the armed tick should run
  log::RateLimit retransmit_log_;
  std::function<void()> down_listener_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards a settle_soon() handler already queued
  // Handler memory of settle_soon()'s post, owned by the handler too: it
  // may outlive the engine in a queue (handler_memory.h).
  std::shared_ptr<HandlerMemory> settle_memory_ = std::make_shared<HandlerMemory>();
};

}  // namespace aoe
