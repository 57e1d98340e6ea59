#include "daemon/attached_target.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "daemon/claim.h"
#include "discovery/admin.h"
#include "discovery/discover.h"
#include "initiator/errors.h"
#include "base/log.h"

namespace aoe::daemon {

namespace {

discovery::DiscoverOptions only(const AttachOptions& o) {
  discovery::DiscoverOptions d;
  d.window = o.discovery_window;
  d.only = {discovery::TargetId{o.shelf, o.slot}};
  return d;
}

std::string link_names(const std::vector<Link*>& links) {
  std::string names;
  for (const Link* l : links) names += (names.empty() ? "" : ",") + l->info().name;
  return names;
}

}  // namespace

std::unique_ptr<AttachedTarget> AttachedTarget::open(boost::asio::io_context& io, std::vector<Link*> links,
                                                     AttachOptions options, std::string& error,
                                                     const std::function<bool()>& cancelled) {
  auto found = discovery::discover(io, links, only(options));
  for (const auto& c : found.conflicts) log::warning("{}", discovery::describe(c));
  std::string name = wire::format_target(options.shelf, options.slot);
  if (found.targets.empty()) {
    error = fmt::format("target {} not found on {} within {:.1f} s (is it up, and on this segment? "
                        "does its MAC mask list exclude this host? aoe-discover lists what answers, "
                        "aoe-mask shows the mask from a host it admits)",
                        name, link_names(links), static_cast<double>(options.discovery_window.count()) / 1000);
    return nullptr;
  }
  TargetInfo target = found.targets.front();
  if (target.identity.sectors == 0) {
    error = fmt::format("target {} answered discovery but reports no capacity", name);
    return nullptr;
  }
  log::notice("{}: {} bytes, {}{}, {} path(s), {} bytes per frame", name, target.identity.size_bytes(),
              target.identity.model, target.identity.lba48 ? ", LBA48" : "", target.paths.size(),
              target.payload_sectors() * wire::sector_size);
  std::unique_ptr<AttachedTarget> attached(
      new AttachedTarget(io, std::move(links), std::move(options), std::move(target)));
  if (!attached->flush_before_serving(cancelled)) {
    error = fmt::format("cancelled while {} flushed its cache before serving", name);
    return nullptr;
  }
  // The flags offered to every client (and the kernel) follow from what the flush said.
  attached->server_ = std::make_unique<nbd::Server>(io, *attached->engine_, attached->options_.export_options);
  return attached;
}

// Whether the target can flush at all, asked before anyone is told: once
// serving, a failed flush is an error that the next flush may cure, never
// a reason to stop flushing (docs/aoe-protocol.md §3.5).  ATA aborts a
// command it does not implement: a target that advertises FLUSH CACHE and
// aborts it has none, and clients then get neither FLUSH nor FUA, so they
// take each acknowledged write as final.  Any other failure (no answer, a
// media error) leaves flush offered: later flushes fail with EIO until the
// target can flush.  False if `cancelled` turned true meanwhile.
bool AttachedTarget::flush_before_serving(const std::function<bool()>& cancelled) {
  if (!engine_->can_flush()) return true;
  std::optional<std::error_code> result;
  engine_->async_flush([&result](std::error_code ec) { result = ec; });
  io_.restart();
  while (!result && io_.run_one() > 0)
    if (cancelled()) engine_->shutdown();  // fails the flush at once
  if (cancelled()) return false;
  if (!result) return true;  // nothing left to run: as if unanswered
  const std::string name = engine_->target().name();
  if (*result == errc::ata_aborted) {
    log::error("{}: the target advertises FLUSH CACHE{} but aborts it: exported without flush, so a write is "
               "only as durable as the target makes it before acknowledging", name,
               engine_->target().identity.flush_ext_supported ? " EXT" : "");
    engine_->refuse_flush();
  } else if (*result) {
    log::warning("{}: the flush before serving failed ({}); flush stays offered, and fails with EIO until the "
                 "target can flush", name, result->message());
  }
  return true;
}

AttachedTarget::AttachedTarget(boost::asio::io_context& io, std::vector<Link*> links, AttachOptions options,
                               TargetInfo target)
    : io_(io),
      links_(std::move(links)),
      options_(std::move(options)),
      engine_(std::make_unique<Engine>(io, std::move(target), options_.engine)),
      rediscover_timer_(io),
      hurry_timer_(io) {
  for (Link* l : links_) route_frames(*l);
}

AttachedTarget::~AttachedTarget() {
  for (Link* l : links_) l->set_receiver(nullptr);
}

// Control exchanges carry tag bit 30 (tag.h); everything else is the engine's.
void AttachedTarget::route_frames(Link& link) {
  link.set_receiver([this, &link](std::span<const std::byte> frame) {
    if (!control_.on_frame(link, frame)) engine_->on_frame(link, frame);
  });
}

// An interface named with -i that did not exist at start has appeared.
void AttachedTarget::join(const std::string& name) {
  std::error_code ec;
  auto link = PacketLink::open(io_, name, ec, options_.link);
  if (!link) {
    log::warning("{}: {} appeared but cannot be opened: {}", engine_->target().name(), name, ec.message());
    return;
  }
  std::erase(options_.pending_interfaces, name);
  log::notice("{}: {} appeared: looking for the target through it", engine_->target().name(), name);
  links_.push_back(link.get());
  route_frames(*link);
  joined_.push_back(std::move(link));
  rediscover();
}

void AttachedTarget::start() {
  control_.set_announcement([this](const discovery::ConfigInfo& c) {
    // vblade announces itself when it (re)starts, perhaps now serving
    // another file: look at once, and let IDENTIFY say whether it is still
    // our disk before the target counts as back.
    if (c.shelf == options_.shelf && c.slot == options_.slot) rediscover();
  });
  // Down: look for the target every second instead of every interval.
  engine_->set_down_listener([this] {
    if (!rediscovering_) schedule_rediscovery();
  });
  std::error_code ec;
  watcher_ = discovery::LinkWatcher::open(io_, [this](const discovery::LinkEvent& e) { on_link_event(e); }, ec);
  if (!watcher_) log::warning("cannot watch link state through rtnetlink: {}; relying on timeouts", ec.message());
  schedule_rediscovery();
}

// A NIC going down fails its paths at once instead of after a window of
// timeouts; one coming back is probed, and rediscovered for new target ports.
void AttachedTarget::on_link_event(const discovery::LinkEvent& event) {
  if (stopped_) return;
  bool up = !event.removed && event.interface.up && event.interface.carrier;
  auto link = std::find_if(links_.begin(), links_.end(),
                           [&](const Link* l) { return l->info().name == event.interface.name; });
  if (link == links_.end()) {
    const auto& pending = options_.pending_interfaces;
    if (up && std::find(pending.begin(), pending.end(), event.interface.name) != pending.end())
      join(event.interface.name);
    return;
  }
  Link& l = **link;
  // Re-created under the same name, a new MTU or MAC: frames must follow it.
  if (up && (event.interface.ifindex != l.info().ifindex || event.interface.mtu != l.info().mtu ||
             event.interface.mac != l.info().mac))
    if (auto ec = l.reopen()) log::warning("{}: cannot follow its change: {}", l.info().name, ec.message());
  log::notice("{}: {} is {}", engine_->target().name(), event.interface.name, up ? "up" : "down");
  engine_->set_link_state(l, up);
  if (up) rediscover();  // refreshes the paths' payload for a new MTU too
}

void AttachedTarget::schedule_rediscovery() {
  if (stopped_) return;
  auto interval = engine_->is_down() ? std::chrono::seconds(1) : options_.rediscover_interval;
  rediscover_timer_.expires_after(interval);
  rediscover_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) rediscover();
  });
}

void AttachedTarget::rediscover() {
  if (stopped_) return;
  if (rediscovering_) {  // asked for during a round (a link up, an announcement): that round may miss it
    rediscover_again_ = true;
    return;
  }
  rediscovering_ = true;
  rediscover_again_ = false;
  auto options = only(options_);
  // Only the disk we attached is our target; another one behind the same
  // shelf.slot is reported as a conflict and never used (docs/aoe-protocol.md §8.12).
  options.expected = engine_->target().identity;
  boost::asio::co_spawn(
      io_,
      [this, options]() -> boost::asio::awaitable<void> {
        auto found = co_await discovery::async_discover(control_, links_, options);
        if (!stopped_ && !found.targets.empty() && !options_.claim_identity.empty())
          co_await recheck_claim(found.targets.front());
        rediscovering_ = false;
        if (stopped_) {
          if (on_rediscovery_idle_) boost::asio::post(io_, std::exchange(on_rediscovery_idle_, nullptr));
          co_return;
        }
        for (const auto& c : found.conflicts) {
          log::warning("{}", discovery::describe(c));
          engine_->quarantine(c.mac);
        }
        if (!found.targets.empty()) on_found(found.targets.front());
        if (rediscover_again_)
          rediscover();
        else
          schedule_rediscovery();
      },
      boost::asio::detached);
}

void AttachedTarget::on_found(const TargetInfo& found) {
  const Identity& now = found.identity;
  const Identity& before = engine_->target().identity;
  if (now.sectors != before.sectors && now.sectors != 0) {
    log::warning("{}: capacity changed from {} to {} bytes", engine_->target().name(), before.size_bytes(),
                 now.size_bytes());
    engine_->set_capacity(now.sectors);
    server_->set_size(now.size_bytes());
    if (resize_listener_) resize_listener_(now.size_bytes());
  }
  engine_->target_answered();
  engine_->update_paths(found.paths);
}

const char* to_string(ClaimState state) noexcept {
  switch (state) {
    case ClaimState::ours: return "ours";
    case ClaimState::lost: return "lost";
    case ClaimState::none: break;
  }
  return "none";
}

ClaimState AttachedTarget::claim_state() const noexcept {
  if (options_.claim_identity.empty()) return ClaimState::none;
  return claim_lost_ ? ClaimState::lost : ClaimState::ours;
}

// Another host that forced its claim writes to the disk now: our writes would
// interleave with its own, so they stop until every port carries our claim
// again (its owner gave it back, or an operator forced ours).
boost::asio::awaitable<void> AttachedTarget::recheck_claim(const TargetInfo& found) {
  const std::string& ours = options_.claim_identity;
  auto ports = discovery::ports_of(found);
  // An empty string is a restarted vblade that forgot the claim: take it
  // back with "set if empty", which fails if another host was quicker.
  std::vector<discovery::TargetPort> empty;
  for (const auto& p : ports)
    if (p.config_string.empty()) empty.push_back(p);
  if (!empty.empty()) {
    auto r = co_await async_claim(control_, empty, options_.shelf, options_.slot, ours, ClaimMode::normal);
    for (auto& p : ports)
      if (p.config_string.empty()) p.config_string = r.ok() ? ours : r.holder;
    if (stopped_) co_return;
  }
  const std::string name = engine_->target().name();
  if (const auto* other = first_not_ours(ports, ours)) {
    if (!claim_lost_) {
      auto host = identity_host(other->config_string);
      log::warning("{}: claim lost: port {} carries \"{}\"{} instead of ours; refusing writes until every "
                   "port carries our claim again",
                   name, other->name(), other->config_string,
                   host ? fmt::format(" (host {})", *host) : std::string{});
    }
    claim_lost_ = true;
  } else if (claim_lost_) {
    log::notice("{}: every port carries our claim again; writes resume", name);
    claim_lost_ = false;
  }
  server_->set_writes_refused(claim_lost_);
}

void AttachedTarget::hurry(bool leave) {
  if (hurried_) return;
  hurried_ = true;
  hurry_timer_.expires_after(stop_grace);
  hurry_timer_.async_wait([this, leave](const boost::system::error_code& ec) {
    if (ec) return;
    if (engine_->in_flight_requests() > 0)
      log::warning("{}: stopping: {} request(s) still unanswered after {} s; {}", engine_->target().name(),
                   engine_->in_flight_requests(), stop_grace.count(),
                   leave ? "left unanswered for the next aoe-attach" : "failing them with EIO");
    if (leave) server_->abandon();
    engine_->shutdown(errc::abandoned);
  });
}

void AttachedTarget::stop(std::function<void()> done) {
  stopped_ = true;
  watcher_.reset();
  rediscover_timer_.cancel();
  server_->shutdown([this, done = std::move(done)]() mutable {
    engine_->shutdown();
    // A rediscovery in progress holds exchanges in control_: it calls `done` as it ends.
    if (!rediscovering_) return done();
    on_rediscovery_idle_ = std::move(done);
  });
}

}  // namespace aoe::daemon
