// engine.h: the request engine for one AoE target (the aoecmd.c of this project).
//
// It turns sector-aligned reads, writes and flushes of up to 32 MiB into
// ATA frames of the target's payload size, keeps a congestion window per
// path (a local NIC and a target port), sends each frame on the path that
// is expected to answer it first (engine_schedule.cpp), retransmits on
// timeout under a fresh tag, and completes a request when every one of its
// frames was answered.  A frame unanswered
// for the deadline fails its request with EIO and marks the target down;
// requests then fail fast until target_answered() says it is back.
//
// A path that keeps timing out while another works is marked failed: its
// frames move to the healthy paths at once and it is probed in the
// background until it answers probes_to_restore rounds in a row
// (docs/aoe-protocol.md §8.6).  A path that answers late still answers: it
// is slow, not failed.  Probes come in two sizes; when
// only the small one gets through, the path's payload is halved (a hop with
// a smaller MTU, docs/aoe-protocol.md §7) and frames too big for it are cut on resend.
//
// A write that was transmitted more than once fences its sectors until its
// other copies are answered or too old to execute, so that a later write of
// those sectors cannot be overwritten by a stale copy; a target that answers
// FLUSH CACHE with ABRT is treated as having no cache to flush.
//
// engine.cpp is the data path (framing, replies, timeouts, completions);
// engine_schedule.cpp which path carries the next frame; engine_paths.cpp
// the paths' membership and health (failure, probes, the jumbo fallback,
// link events, the target going down and coming back); engine_fences.cpp
// the fences of retransmitted writes.
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
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "initiator/block_device.h"
#include "initiator/handler_memory.h"
#include "initiator/log.h"
#include "initiator/path.h"
#include "initiator/recycling_allocator.h"
#include "initiator/tag.h"
#include "initiator/target.h"

namespace aoe {

struct EngineOptions {
  // A frame unanswered this long fails its request and marks the target
  // down (the kernel's aoe_deadsecs is 180 s; Plan 9 gives up after 45 s).
  // Zero retries forever.
  std::chrono::milliseconds deadline = std::chrono::seconds(60);
  RttLimits rtt;
  // Upper bound on any path's window whatever the Buffer Count says (the
  // kernel's aoe_maxout is 64; vblade's default Buffer Count is 16).
  unsigned max_window = 128;
  // Largest request accepted, the kernel nbd driver's max_hw_sectors.
  std::size_t max_request_bytes = 32u << 20;
  // How often a failed path is probed.  A path failed again within
  // flap_window of its restoration is probed half as often each time (up
  // to 16 x): a path that cannot hold its answers does not cycle.
  std::chrono::milliseconds probe_interval{500};
  std::chrono::milliseconds flap_window{std::chrono::seconds(30)};
  // Probe rounds in a row a failed path must answer at full size before it
  // carries I/O again: one answer may be a lucky frame on a path that
  // loses most.
  unsigned probes_to_restore = 2;
  // A working path that carried no frame for this long while I/O runs on
  // the others gets a probe read, whose answer refreshes its RTT: the
  // scheduler leaves a slow path idle, and would otherwise never notice it
  // became fast again.  One frame a second costs nothing measurable.
  std::chrono::milliseconds rtt_refresh_interval{std::chrono::seconds(1)};
  // Loss episodes in a row without any answer that fail a path: each waits
  // a doubled RTO, so 3 takes at least 7 x min_rto and rides out a stall.
  // Any answer counts, even to a frame already answered on another path:
  // a path that answers late is slow, and the scheduler treats it so.
  unsigned episodes_to_fail = 3;
  // Rediscovery rounds in a row that must miss a failed path before it is
  // retired: one Query Config answer is one frame, and losing it must not
  // stop the probes that would bring the path back; probing a path that is
  // really gone costs only a frame per probe.
  unsigned misses_to_retire = 2;
  // Where every decision by time (RTT samples, timeouts, the deadline,
  // probes) reads it; tests put a clock they move by hand here.  The timer
  // that makes the engine look again still runs on the steady clock.
  std::function<Clock::time_point()> now = [] { return Clock::now(); };
  // How long an unanswered copy of a write may still execute on the target
  // after it was sent; zero: rtt.max_rto.  A retransmitted write leaves its
  // other copies in a switch or target queue, where a copy can execute after
  // its twin was answered, and so after a later write of the same sectors
  // (targets execute frames in any order, docs/aoe-protocol.md §8.10).  A
  // later overlapping write waits until every copy was answered or is older
  // than this.  The bound is the engine's own for a lost frame: RTO =
  // srtt + 4 rttvar covers the delays a path shows, each loss doubles it, and
  // at rtt.max_rto a transmission still unanswered is counted lost; a copy
  // held longer than that ceiling has outlived every delay the estimator
  // allows on any path.  Only writes overlapping a retransmitted one pay it.
  std::chrono::milliseconds write_copy_lifetime{0};
};

// Live numbers of one path, for aoe-stat.
struct PathStatus {
  std::string interface;
  wire::Mac target_mac{};
  bool failed = false;                 // timing out while another path works, or NIC down
  bool link_up = true;
  unsigned payload_bytes = 0;
  unsigned window = 0;
  unsigned window_cap = 0;
  unsigned outstanding = 0;
  Duration srtt{0};
  Duration rttvar{0};
  Duration rto{0};
  std::uint64_t frames_sent = 0;
  std::uint64_t retransmits = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t late_replies = 0;      // answers to an earlier frame that used the tag's slot
  std::uint64_t duplicate_replies = 0; // answers to a frame already completed (a copy, or a retransmission's twin)
  std::uint64_t rejected_replies = 0;  // malformed, wrong MAC/path/target/command/LBA/count, bad length
  std::uint64_t send_drops = 0;        // the NIC queue refused the frame
  std::uint64_t failures = 0;          // times the path was failed (link down, or silent for 3 episodes)
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

  // Fails every queued and in-flight request with errc::shutting_down.
  void shutdown();

  const TargetInfo& target() const noexcept { return target_; }
  // Sectors per frame on the weakest working path (each path cuts its own).
  unsigned payload_sectors() const noexcept { return payload_sectors_; }
  std::size_t in_flight_requests() const noexcept { return live_requests_; }
  std::uint64_t stray_replies() const noexcept { return stray_replies_; }
  // Writes held back behind a copy of an earlier overlapping write, and the
  // sector ranges fenced now (see EngineOptions::write_copy_lifetime).
  std::uint64_t fenced_writes() const noexcept { return fenced_writes_; }
  std::size_t fences() const noexcept { return fences_.size(); }
  std::vector<PathStatus> path_status() const;

 private:
  enum class Kind : std::uint8_t { read, write, flush, probe };

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
    bool fenced = false;             // held back by a fence at least once
    std::error_code error;
    Completion done;
  };

  struct Path {
    Link* link = nullptr;
    wire::Mac mac{};
    unsigned port = 0;               // index into ports_ (the target MAC)
    RttEstimator rtt;
    Window window;
    unsigned outstanding = 0;
    std::uint64_t sequence = 0;      // transmissions so far (for Window::on_loss)
    unsigned payload_sectors = 1;    // largest frame this path carries now
    unsigned full_payload_sectors = 1;  // what discovery says it should carry
    bool failed = false;
    bool retired = false;            // out of use: rediscovery no longer finds it, or it is another disk
    bool link_up = true;
    unsigned silent_episodes = 0;  // loss episodes since the last answer on this path
    unsigned missed_rediscoveries = 0;  // rounds in a row that did not list this path
    Clock::time_point next_probe{};
    unsigned probes_in_flight = 0;
    bool small_probe_answered = false;
    bool full_probe_answered = false;  // this round's probe at the payload size
    unsigned answered_rounds = 0;    // probe rounds in a row answered at full size while failed
    Clock::time_point probe_sent_at{};
    Clock::time_point restored_at{};
    unsigned flaps = 0;              // failed again within flap_window of restoration, in a row
    std::uint64_t refresh_sequence = 0;  // `sequence` at the last look for idleness
    Clock::time_point next_refresh{};
    PathStatus stats;
  };

  // Sectors that unanswered copies of a completed write may still overwrite.
  struct Fence {
    std::uint64_t lba = 0;
    std::uint32_t sectors = 0;
    std::uint32_t slot = 0;
    std::uint32_t first_generation = 0;  // the copies are [first_generation, + copies)
    std::uint32_t copies = 0;
    std::uint64_t unanswered = 0;        // bit k: copy first_generation + k (only the expiry ends > 64 copies)
    Clock::time_point expires{};         // the latest copy is past write_copy_lifetime
  };

  struct Port {                      // one target MAC: its Buffer Count bounds all paths to it
    wire::Mac mac{};
    unsigned buffer_count = 1;
    unsigned outstanding = 0;
  };

  struct Slot {                      // one frame in flight; indexed by the tag's slot field
    Request* request = nullptr;      // null: free
    std::uint32_t generation = 0;    // of the latest transmission
    std::uint32_t transmissions = 0; // generations [generation - transmissions + 1, generation] are this frame's
    std::uint32_t first_sector = 0;  // offset within the request
    std::uint8_t sectors = 0;
    std::uint8_t widest = 0;         // most sectors any transmission carried (before a cut)
    bool answered = false;           // a reply to answered_generation arrived
    std::uint32_t answered_generation = 0;
    unsigned path = 0;
    std::uint64_t sequence = 0;      // path sequence of the latest transmission
    std::uint64_t paths_sent = 0;    // path_bit() of every path a transmission went out on
    Clock::time_point sent_at{};     // latest transmission
    Clock::time_point first_sent_at{};
    bool queued_for_retransmit = false;
  };

  // A frame transmit() made, sent with the others of its pass (flush_sends).
  struct Outgoing {
    Link* link = nullptr;
    unsigned path = 0;
    std::size_t head_size = 0;
    std::array<std::byte, wire::min_frame_size> header{};  // a read's is padded with zeros
    std::span<const std::byte> body;                       // write data, in the request's buffer
  };

  void submit(Kind kind, std::uint64_t offset, std::byte* data, std::size_t length, Completion done);
  void fail_soon(Completion done, std::error_code ec);
  void pump();
  void send_new_frame(unsigned path_index, Request* request);
  Request* next_to_frame(unsigned max_sectors);
  void fence_copies(std::uint32_t slot_index);
  void on_late_copy(std::uint32_t slot_index, std::uint32_t generation);
  bool fenced(std::uint64_t lba, std::uint32_t sectors) const noexcept;
  void expire_fences(Clock::time_point now);
  void refuse_flush();
  bool fit_frame(std::uint32_t slot_index, unsigned max_sectors);
  void transmit(std::uint32_t slot_index, unsigned path_index);
  void flush_sends();
  void settle_soon();
  int pick_path(std::size_t backlog);
  std::size_t waiting_frames() const noexcept;
  Duration expected_rtt(const Path& path, Duration unmeasured) const noexcept;
  bool usable(const Path& path, bool allow_failed) const;
  void probe_paths(Clock::time_point now);
  Clock::time_point probe_time(const Path& path, Clock::time_point now) const noexcept;
  void add_path(const PathInfo& info);
  void update_payload();
  void on_timeout(std::uint32_t slot_index, Clock::time_point now);
  void fail_path(unsigned path_index, const char* why);
  void restore_path(unsigned path_index);
  void requeue_frames_of(unsigned path_index);
  void probe(unsigned path_index);
  void send_probe(unsigned path_index, unsigned sectors);
  void on_probe_done(unsigned path_index, unsigned sectors, std::error_code ec);
  void on_reply(Link& link, const wire::Frame& frame);
  void on_announcement(const wire::Header& header);
  wire::AtaArg ata_arg(const Slot& slot) const noexcept;
  void retire_port(const wire::Mac& mac, const char* why);
  int path_of(const Link& link, const wire::Mac& mac) const noexcept;
  void complete_frame(std::uint32_t slot_index, std::error_code ec);
  void release_slot(std::uint32_t slot_index);
  void count_rejected(std::uint32_t tag);
  void fail_all(std::error_code ec);
  void stop_framing(Request* request, std::error_code ec);
  void finish_if_done(Request* request);
  void on_tick();
  void forgive_own_stall(Duration late);
  void arm_timer();
  void mark_down();
  Request* new_request();
  void run_completions();

  boost::asio::io_context& io_;
  TargetInfo target_;
  EngineOptions options_;
  unsigned payload_sectors_;
  std::vector<Path> paths_;
  std::vector<Port> ports_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> retransmit_queue_;  // FIFO of slots; capacity reserved: never allocates
  std::deque<Request*, RecyclingAllocator<Request*>> queue_;  // requests with sectors not yet framed
  std::vector<std::unique_ptr<Request>> request_pool_;
  std::vector<Request*> free_requests_;
  using Completions = std::vector<std::pair<Completion, std::error_code>>;
  Completions completions_;                      // run after state settles
  Completions running_completions_;              // the batch being run (keeps its capacity)
  std::vector<Outgoing> outbox_;                 // frames of this pass, not sent yet
  std::vector<Link::Outgoing> sending_;          // one link's share of the outbox
  std::vector<unsigned> sending_paths_;          // the path of each of those
  bool settle_posted_ = false;                   // replies received: settle_soon() posted
  bool in_completions_ = false;
  Clock::time_point stalled_since_{};            // requests queued, nothing in flight to send them
  std::size_t live_requests_ = 0;
  std::size_t frames_in_flight_ = 0;             // slots in use
  std::uint64_t stray_replies_ = 0;              // answers to frames already completed
  std::vector<Fence> fences_;                    // few: a retransmitted write makes one, for a lifetime
  Duration copy_lifetime_;                       // write_copy_lifetime, resolved
  std::uint64_t fenced_writes_ = 0;
  bool flush_refused_ = false;                   // FLUSH answered ABRT: the target has none
  std::vector<std::byte> probe_buffer_;          // where probe reads land (content unused)
  unsigned next_path_ = 0;                       // where ties among paths start: they take turns
  bool down_ = false;
  bool stopped_ = false;
  bool in_pump_ = false;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point tick_due_{};                 // when the armed tick should run, on the steady clock
  log::RateLimit retransmit_log_;
  std::function<void()> down_listener_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards a timer handler already queued
  // Handler memory of the tick timer and of settle_soon(), owned by the
  // handler too: it may outlive the engine in a queue (handler_memory.h).
  std::shared_ptr<HandlerMemory> timer_memory_ = std::make_shared<HandlerMemory>();
  std::shared_ptr<HandlerMemory> settle_memory_ = std::make_shared<HandlerMemory>();  // settle_soon's post
};

}  // namespace aoe
