#include "initiator/engine.h"

#include <algorithm>
#include <cstring>

#include <boost/asio/post.hpp>

#include "initiator/errors.h"

namespace aoe {
namespace {

double to_ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

Engine::Engine(boost::asio::io_context& io, TargetInfo target, EngineOptions options)
    : io_(io),
      target_(std::move(target)),
      options_(options),
      frames_({.lba48 = target_.identity.lba48, .flush_ext = target_.identity.flush_ext_supported}),
      fences_({.lba48 = target_.identity.lba48,
               .in_order = options.in_order_ports,
               .memory_limit = options.late_copy_memory},
              tag::slot_count),
      own_timers_(options.timers ? nullptr : std::make_unique<SteadyTimers>(io)),
      timers_(options.timers ? *options.timers : *own_timers_),
      timer_(timers_.make_timer([this] {
        timer_armed_ = false;
        forgive_own_stall(timers_.now() - tick_due_);
        on_tick();
      })),
      paths_(target_, options_, timers_,
             {.send_probe = [this](unsigned p, unsigned sectors) { send_probe(p, sectors); },
              .move_frames = [this](unsigned p) { move_frames(p); },
              .io_in_flight = [this] { return frames_.frames_in_flight() != 0; }}) {
  Identity& id = target_.identity;
  if (id.claimed_sectors)
    log::warning("{}: IDENTIFY claims {} sectors, more than {} addresses: serving the first {}", target_.name(),
                 id.claimed_sectors, id.lba48 ? "LBA48" : "LBA28", id.sectors);
  set_capacity(id.sectors);  // however the identity was made
  paths_.update(target_.paths);
  outbox_.reserve(frames_.size());
  sending_.reserve(frames_.size());
  sending_paths_.reserve(frames_.size());
  // A probe is one frame of a path's payload, at most max_frame_sectors.
  probe_buffer_.resize(max_frame_sectors * wire::sector_size);
}

Engine::~Engine() { *alive_ = false; }

std::uint64_t Engine::size_bytes() const noexcept { return target_.identity.size_bytes(); }

bool Engine::can_flush() const noexcept {
  return !flush_refused_ && (target_.identity.flush_supported || target_.identity.flush_ext_supported);
}

void Engine::async_read(std::uint64_t offset, std::span<std::byte> data, Completion done) {
  submit(Kind::read, offset, data.data(), data.size(), std::move(done));
}

void Engine::async_write(std::uint64_t offset, std::span<const std::byte> data, Completion done) {
  // The engine only reads write data; the request keeps one pointer type.
  submit(Kind::write, offset, const_cast<std::byte*>(data.data()), data.size(), std::move(done));
}

void Engine::async_flush(Completion done) {
  if (!can_flush()) {
    // Nothing to send: a write completes only once the target acknowledged it,
    // and a target without a cache flush command offers nothing stronger.
    return complete_soon(std::move(done), {});
  }
  submit(Kind::flush, 0, nullptr, 0, std::move(done));
}

void Engine::submit(Kind kind, std::uint64_t offset, std::byte* data, std::size_t length, Completion done) {
  if (stopped_) return complete_soon(std::move(done), stop_error_);
  if (down_) return complete_soon(std::move(done), errc::target_down);
  if (paths_.paths().empty()) return complete_soon(std::move(done), errc::no_path);
  if (kind != Kind::flush) {
    if (offset % wire::sector_size || length % wire::sector_size) return complete_soon(std::move(done), errc::not_aligned);
    if (length > options_.max_request_bytes) return complete_soon(std::move(done), errc::request_too_large);
    if (offset > size_bytes() || length > size_bytes() - offset) return complete_soon(std::move(done), errc::out_of_range);
    if (length == 0) return complete_soon(std::move(done), {});
  }
  frames_.enqueue(frames_.make(kind, offset / wire::sector_size, static_cast<std::uint32_t>(length / wire::sector_size),
                               data, timers_.now(), std::move(done)));
  pump();
  run_completions();
}

// Completes a request that needs no frame: refused (`ec`), or with nothing
// to do (empty, or a flush of a target without a cache).  Never inside the
// caller's call: it may hold state it updates after.
void Engine::complete_soon(Completion done, std::error_code ec) {
  boost::asio::post(io_, [done = std::move(done), ec] { done(ec); });
}

// Fills the paths' windows: retransmissions first, then new frames from the
// oldest request that is not held by a fence.  Each frame goes to the path
// expected to answer it first, given how much is waiting
// (initiator/scheduler.h).
void Engine::pump() {
  if (in_pump_) return;
  in_pump_ = true;
  std::size_t backlog = frames_.waiting_frames(paths_.payload_sectors());
  while (frames_.retransmit_waiting() || (!frames_.queue().empty() && frames_.has_free_slot())) {
    int p = scheduler_.pick(paths_.paths(), paths_.ports(), backlog);
    if (p < 0) break;
    if (backlog > 1) --backlog;
    if (frames_.retransmit_waiting()) {
      std::uint32_t i = frames_.next_retransmit();
      if (!frames_.fit(i, paths_[static_cast<unsigned>(p)].payload_sectors)) break;  // no slot for the cut-off rest yet
      frames_.pop_retransmit();
      transmit(i, static_cast<unsigned>(p));
    } else {
      Request* r = next_to_frame(paths_[static_cast<unsigned>(p)].payload_sectors);
      if (!r) break;  // every queued request waits for a fence
      send_new_frame(static_cast<unsigned>(p), r);
    }
  }
  in_pump_ = false;
  if (!in_completions_) flush_sends();  // run_completions() flushes what completions framed
  arm_timer();
}

void Engine::send_new_frame(unsigned path_index, Request* r) {
  std::uint32_t i = frames_.frame(r, paths_[path_index].payload_sectors);
  const Slot& s = frames_[i];
  if (r->kind == Kind::write && !r->repair)  // its data is kept over fenced sectors
    fences_.framed(r->lba + s.first_sector, s.sectors, r->data + std::size_t{s.first_sector} * wire::sector_size);
  transmit(i, path_index);
}

// A frame whose path's payload was lowered after it was first sent was cut
// to fit (FrameTable::fit): a late answer to the bigger transmission still
// completes the smaller frame if it is a write ack (the write covered it);
// a read answer of the old size is rejected by length.
void Engine::transmit(std::uint32_t slot_index, unsigned path_index) {
  Path& path = paths_[path_index];
  std::uint32_t tag = frames_.transmitted(slot_index, path_index, path.sequence++, timers_.now());
  const Slot& s = frames_[slot_index];
  const Request& r = *s.request;
  wire::Header header{.dst = path.mac,
                      .src = path.link->info().mac,
                      .shelf = target_.shelf,
                      .slot = target_.slot,
                      .command = wire::Command::ata,
                      .tag = tag};
  Outgoing& out = outbox_.emplace_back();  // value-initialised: the header's padding is zero
  out.link = path.link;
  out.path = path_index;
  out.head_size = wire::encode_ata_header(header, frames_.ata_arg(slot_index), out.header);
  if (r.kind == Kind::write)
    out.body = {r.data + std::size_t{s.first_sector} * wire::sector_size, std::size_t{s.sectors} * wire::sector_size};
  else
    out.head_size = wire::min_frame_size;  // bytes 36..59 stay zero: the padding

  ++path.outstanding;
  ++paths_.port_of(path).outstanding;
  ++path.stats.frames_sent;
  if (s.transmissions > 1) ++path.stats.retransmits;
  if (r.kind == Kind::write)
    fences_.sent({.slot = slot_index,
                  .generation = s.generation,
                  .path = path_index,
                  .sequence = s.sequence,
                  .lba = r.lba + s.first_sector,
                  .sectors = s.sectors},
                 s.transmissions > 1);
}

// Hands each link its share of the pass's frames in one call, in the order
// they were made.  Only run_completions() gives a request's buffer back, and
// it flushes first: a write's data stays valid until its frames went out.
void Engine::flush_sends() {
  for (std::size_t first = 0; first < outbox_.size(); ++first) {
    Link* link = outbox_[first].link;
    if (!link) continue;  // sent with an earlier link's share
    sending_.clear();
    sending_paths_.clear();
    for (std::size_t i = first; i < outbox_.size(); ++i) {
      Outgoing& out = outbox_[i];
      if (out.link != link) continue;
      sending_.push_back({std::span<const std::byte>(out.header.data(), out.head_size), out.body});
      sending_paths_.push_back(out.path);
      out.link = nullptr;
    }
    link->send_batch(sending_);
    for (std::size_t i = 0; i < sending_.size(); ++i)
      if (!sending_[i].sent) ++paths_[sending_paths_[i]].stats.send_drops;
  }
  outbox_.clear();
}

bool Engine::on_frame(Link& link, std::span<const std::byte> raw) {
  wire::Header header;
  if (wire::decode_header(raw, header) || !header.response) return false;
  if (header.tag == 0 && header.command == wire::Command::query_config) {
    on_announcement(header);
    return true;
  }
  if (!tag::is_engine(header.tag)) return false;
  wire::Frame frame;
  if (auto ec = wire::decode(raw, frame)) {
    count_rejected(header.tag);
    log::debug("{}: rejected reply tag {:08x} on {}: {}", target_.name(), header.tag, link.info().name, ec.message());
    return true;
  }
  on_reply(link, frame);
  settle_soon();
  return true;
}

// The replies of one burst (everything the io_context runs before the posted
// handler: every frame of a wake-up, on every link) are settled in one pass:
// one pump, one batch of sends per link, then the completions.
void Engine::settle_soon() {
  if (settle_posted_) return;
  settle_posted_ = true;
  boost::asio::post(io_, with_memory(settle_memory_, [this, alive = alive_] {
    if (!*alive) return;  // queued before the engine went away
    settle_posted_ = false;
    pump();
    run_completions();
  }));
}

void Engine::count_rejected(std::uint32_t t) {
  const Slot& s = frames_[tag::slot_of(t)];
  if (s.request)
    ++paths_[s.path].stats.rejected_replies;
  else
    ++stray_replies_;
}

void Engine::on_reply(Link& link, const wire::Frame& frame) {
  const wire::Header& h = frame.header;
  std::uint32_t i = tag::slot_of(h.tag);
  const Slot& s = frames_[i];
  // The path the answer came over, which need not be the one that carried
  // the frame's latest transmission: it is that path that is alive.
  // Retired and quarantined paths answer nothing: their port is gone, or
  // is another disk, or announced itself and awaits IDENTIFY.
  // A late answer to a copy still counts from a retired path: the copy
  // went out on it when it was in use.
  const int sender = paths_.find(link, h.src);
  int from = sender;
  if (from >= 0 && paths_[static_cast<unsigned>(from)].retired) from = -1;
  if (!s.request) {  // the frame already completed: a duplicate or very late answer
    ++stray_replies_;
    if (from >= 0) ++paths_[static_cast<unsigned>(from)].stats.duplicate_replies;
    if (from >= 0 && h.shelf == target_.shelf && h.slot == target_.slot && h.command == wire::Command::ata)
      paths_.on_answer(static_cast<unsigned>(from));  // slow, but it answers: not failed
    return on_late_answer(sender, frame);
  }
  auto reject = [&](const char* why) {
    ++paths_[s.path].stats.rejected_replies;
    log::debug("{}: rejected reply tag {:08x} from {} on {}: {}", target_.name(), h.tag, wire::format_mac(h.src),
               link.info().name, why);
  };
  const bool earlier = frames_.earlier(h.tag);  // an answer to an earlier frame that used this slot
  const bool latest = frames_.age(h.tag) == 0;
  if (from < 0 && sender >= 0 && earlier) return on_late_answer(sender, frame);
  if (from < 0) return reject("not a path in use");
  if (h.shelf != target_.shelf || h.slot != target_.slot || h.command != wire::Command::ata)
    return reject("another target or command");
  Path& path = paths_[static_cast<unsigned>(from)];
  paths_.on_answer(static_cast<unsigned>(from));  // slow or not, the path answers
  if (earlier) {
    ++path.stats.late_replies;
    return on_late_answer(sender, frame);
  }
  // The answer comes from a port this frame was sent to (docs/aoe-protocol.md
  // §2.6), and echoes its ATA Arg.  An AoE error answer (E) is not held to
  // the echo: targets need not return the Arg with it, and it neither
  // carries data nor acknowledges a write.
  if (!frames_.sent_on(i, static_cast<unsigned>(from))) return reject("from a port the frame was not sent to");
  const auto& ata = std::get<wire::AtaArg>(frame.arg);
  if (!h.error && !frames_.echoes(i, ata)) return reject("does not echo the frame's flags, LBA or count");
  frames_.answered(h.tag);
  if (latest && static_cast<unsigned>(from) == s.path) fences_.path_answered(s.path, s.sequence);
  if (s.request->kind == Kind::probe) return complete_frame(i, {});  // any answer proves the path
  if (h.error) {
    auto ec = make_error_code(from_aoe_error(h.error_code));
    if (ec == errc::aoe_device_unavailable) return;  // transient (docs/aoe-protocol.md §8.7): let the timeout retry it
    log::warning("{}: tag {:08x}: {}", target_.name(), h.tag, ec.message());
    return complete_frame(i, ec);
  }
  if (ata.cmd_status & wire::ata::failure_mask) {
    // A FLUSH too, ABRT included: ATA also aborts a flush it could not
    // complete, so only the flush sent before serving may tell that the
    // target has none (docs/aoe-protocol.md §3.5).
    std::error_code ec = from_ata_error(ata.err_feature);
    log::warning("{}: tag {:08x} lba {}: ATA status {:02x} error {:02x}: {}", target_.name(), h.tag,
                 s.request->lba + s.first_sector, ata.cmd_status, ata.err_feature, ec.message());
    return complete_frame(i, ec);
  }
  if (s.request->kind == Kind::read) {
    std::size_t expected = std::size_t{s.sectors} * wire::sector_size;
    if (ata.data.size() != expected) {  // docs/aoe-protocol.md §3.4: never use short or long read data
      ++path.stats.rejected_replies;
      return;
    }
    std::byte* dst = s.request->data + std::size_t{s.first_sector} * wire::sector_size;
    std::memcpy(dst, ata.data.data(), expected);
    fences_.patch_read(s.request->lba + s.first_sector, s.sectors, dst);  // never older than an acknowledged write
  }
  // Timing and window belong to the path of the latest transmission; an
  // answer that came another way says nothing about either.
  if (static_cast<unsigned>(from) == s.path) {
    if (latest && s.transmissions == 1) path.rtt.sample(timers_.now() - s.sent_at);  // Karn
    path.window.on_ack();
  }
  complete_frame(i, {});
}

// A failed frame fails its request: it sends nothing more, and completes
// when its frames in flight return (FrameTable::complete).
void Engine::complete_frame(std::uint32_t slot_index, std::error_code ec) {
  const Slot& s = frames_[slot_index];
  // Before the request can complete: a write its caller issues next must see the fence.
  if (s.request->kind == Kind::write)
    fences_.done(slot_index, s.answered ? std::optional(s.answered_generation) : std::nullopt);
  if (!s.queued_for_retransmit) {  // timed out and not resent yet: not counted as outstanding
    Path& path = paths_[s.path];
    --path.outstanding;
    --paths_.port_of(path).outstanding;
  }
  frames_.complete(slot_index, ec);
}

void Engine::fail_all(std::error_code ec) {
  for (std::uint32_t i = 0; i < frames_.size(); ++i)
    if (frames_[i].request) complete_frame(i, ec);
  frames_.fail_queued(ec);
}

void Engine::on_tick() {
  if (stopped_) return;  // a tick queued before shutdown()
  auto now = timers_.now();
  // Silence is judged on what was read.  A process starved of CPU, or whose
  // timer ran before its receive wake-up, may hold the answers unread: they
  // are taken first, so that neither a timeout nor the deadline counts our
  // own delay as the target's silence.
  FrameSurvey seen = survey_frames(now);
  if (seen.timed_out || seen.past_deadline) {
    receive_waiting();
    if (stopped_) return;  // a completion run by an answer stopped the engine
    seen = survey_frames(now);
  }
  bool expired = seen.past_deadline;
  const bool io_in_flight = seen.io_in_flight;
  settle_fences(now);
  // Requests waiting with nothing in flight have no usable path to go out
  // on: that stall runs against the deadline too, or they would wait forever.
  // Writes held by a fence wait for it, not for a path (settle_fences).
  if (io_in_flight || (frames_.queue().empty() && !frames_.retransmit_waiting()) || fence_held_)
    stalled_since_ = {};
  else if (stalled_since_ == Clock::time_point{})
    stalled_since_ = now;
  else if (options_.deadline.count() > 0 && now - stalled_since_ >= options_.deadline)
    expired = true;
  if (expired) {
    mark_down();
  } else {
    if (seen.timed_out)
      for (std::uint32_t i = 0; i < frames_.size(); ++i) {
        const Slot& s = frames_[i];
        if (s.request && !s.queued_for_retransmit && now - s.sent_at >= timeout_of(s)) on_timeout(i, now);
      }
    paths_.probe_due(now);
  }
  pump();
  run_completions();
}

Engine::FrameSurvey Engine::survey_frames(Clock::time_point now) const {
  FrameSurvey seen;
  const bool deadline = options_.deadline.count() > 0;
  for (std::uint32_t i = 0; i < frames_.size(); ++i) {
    const Slot& s = frames_[i];
    if (!s.request) continue;
    if (s.request->kind != Kind::probe) {
      seen.io_in_flight = true;
      if (deadline && now - s.first_sent_at >= options_.deadline) seen.past_deadline = true;
    }
    if (!s.queued_for_retransmit && now - s.sent_at >= timeout_of(s)) seen.timed_out = true;
  }
  return seen;
}

// A probe waits at least the probe interval: a slow answer is an answer.
Duration Engine::timeout_of(const Slot& s) const {
  const Duration rto = paths_[s.path].rtt.rto();
  return s.request->kind == Kind::probe ? std::max(rto, Duration(options_.probe_interval)) : rto;
}

// Each link once, though several paths may share it.
void Engine::receive_waiting() {
  const std::vector<Path>& paths = paths_.paths();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    Link* link = paths[i].link;
    const bool seen = std::any_of(paths.begin(), paths.begin() + static_cast<std::ptrdiff_t>(i),
                                  [link](const Path& p) { return p.link == link; });
    if (!seen) link->receive_waiting();
  }
}

void Engine::on_timeout(std::uint32_t i, Clock::time_point now) {
  const Slot& s = frames_[i];
  unsigned p = s.path;
  Path& path = paths_[p];
  if (s.request->kind == Kind::probe) return complete_frame(i, errc::timed_out);
  ++path.stats.timeouts;
  unsigned long suppressed = 0;
  if (retransmit_log_.allow(suppressed, now))
    log::info("{}: tag {:08x} lba {} unanswered on {} to {} after {:.1f} ms, retransmitting{}", target_.name(),
              tag::engine(i, s.generation), s.request->lba + s.first_sector, path.stats.interface,
              wire::format_mac(path.mac), to_ms(now - s.sent_at),
              suppressed ? fmt::format(" ({} similar messages suppressed)", suppressed) : std::string());
  --path.outstanding;
  --paths_.port_of(path).outstanding;
  frames_.queue_retransmit(i);
  // React once per loss episode (a window's worth of frames that a stall of
  // the target or the host times out together), as TCP does: one halving of
  // the window, one doubling of the RTO.  Reacting per frame would back the
  // RTO off to its ceiling and fail a working path after one hiccup.
  if (path.window.on_loss(s.sequence, path.sequence)) paths_.on_loss_episode(p);
}

void Engine::arm_timer() {
  if (timer_armed_ || stopped_ ||
      (frames_.frames_in_flight() == 0 && frames_.queue().empty() && !paths_.probing() && !fences_.wants_tick()))
    return;
  // Check four times per shortest RTO, within [1 ms, 50 ms]: late enough to
  // batch, early enough that a timeout fires within a quarter RTO of its time.
  Duration tick = std::chrono::milliseconds(50);
  for (const Path& p : paths_.paths()) tick = std::min(tick, p.rtt.rto() / 4);
  tick = std::max<Duration>(tick, std::chrono::milliseconds(1));
  timer_armed_ = true;
  tick_due_ = timers_.now() + tick;
  timer_->arm(tick_due_);
}

// A tick this late means this process did not run (SIGSTOP, a suspended
// host or VM, a debugger): nothing it sent could be answered meanwhile, so
// that time is not the target's silence and does not count against the
// deadline.  The frames are timed out and resent as after any stall.
void Engine::forgive_own_stall(Duration late) {
  constexpr Duration own_stall = std::chrono::seconds(1);
  if (late < own_stall) return;
  for (std::uint32_t i = 0; i < frames_.size(); ++i)
    if (frames_[i].request) frames_[i].first_sent_at += late;
  if (stalled_since_ != Clock::time_point{}) stalled_since_ += late;
  log::notice("{}: this process did not run for {:.1f} s (stopped or suspended); the deadline does not count it",
              target_.name(), std::chrono::duration<double>(late).count());
}

void Engine::shutdown(std::error_code why) {
  stopped_ = true;
  stop_error_ = why;
  fail_all(why);
  if (fences_.fences() > 0)
    log::warning("{}: stopping with {} write copies unanswered: should a stalled port still execute one, it "
                 "overwrites the newer data of its sectors (docs/write-ordering.md §5)",
                 target_.name(), fences_.fences());
  timer_->cancel();
  timer_armed_ = false;
  run_completions();
}

void Engine::run_completions() {
  // Completions may submit new requests and so re-enter: the outer call runs
  // whatever they add.  The two vectors trade places and keep their capacity.
  // Frames the completions make go out together after each round, and a
  // buffer goes back to its owner only after the frames reading it went out.
  if (in_completions_) return;
  in_completions_ = true;
  flush_sends();
  while (frames_.completions_waiting()) {
    frames_.take_completions(running_completions_);
    for (auto& [done, ec] : running_completions_) done(ec);
    running_completions_.clear();
    flush_sends();
  }
  in_completions_ = false;
}

std::vector<PathStatus> Engine::path_status() const { return paths_.status(); }

}  // namespace aoe
