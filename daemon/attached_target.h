// attached_target.h: one AoE target served for as long as aoe-attach runs:
// the control client and the engine sharing the links, the NBD server over
// the engine, and the loop that rediscovers the target (so a target that was
// marked down comes back by itself, docs/aoe-protocol.md §8.8).  Everything here lives on the
// io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // before asio/awaitable.hpp, which needs std::exchange
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "discovery/control.h"
#include "discovery/interfaces.h"
#include "initiator/engine.h"
#include "initiator/packet_link.h"
#include "nbd-bridge/server.h"

namespace aoe::daemon {

struct AttachOptions {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  std::chrono::milliseconds discovery_window{1000};
  // Query Config is repeated this often to refresh the paths; while the
  // target is down, every second so it comes back quickly.
  std::chrono::seconds rediscover_interval{60};
  EngineOptions engine;
  nbd::ExportOptions export_options;
  // Named with -i but absent at start: opened when rtnetlink says they are up.
  std::vector<std::string> pending_interfaces;
  // Non-empty: the claim this aoe-attach holds (--claim, --force-claim).
  // Each rediscovery checks every port still carries it; while one does
  // not, writes are refused (docs/aoe-protocol.md §4.2).
  std::string claim_identity;
};

enum class ClaimState { none, ours, lost };
const char* to_string(ClaimState state) noexcept;  // "none", "ours", "lost" (status JSON)

class AttachedTarget {
 public:
  // Discovers the target over `links` and, where IDENTIFY offers FLUSH
  // CACHE, sends one (running `io` until that is done): a target that aborts
  // it is exported without flush.  Returns null and sets `error` to a
  // sentence for the user if the target is absent, or if `cancelled` (a
  // signal came) turned true while the flush was outstanding.
  static std::unique_ptr<AttachedTarget> open(boost::asio::io_context& io, std::vector<Link*> links,
                                              AttachOptions options, std::string& error,
                                              const std::function<bool()>& cancelled = [] { return false; });
  ~AttachedTarget();
  AttachedTarget(const AttachedTarget&) = delete;
  AttachedTarget& operator=(const AttachedTarget&) = delete;

  Engine& engine() noexcept { return *engine_; }
  nbd::Server& server() noexcept { return *server_; }
  const TargetInfo& target() const noexcept { return engine_->target(); }
  // none without a claim; lost while a port carries another string.
  ClaimState claim_state() const noexcept;

  // Called on the io thread when rediscovery finds a new capacity, after the
  // engine and the NBD server took it (the kernel device is its owner's).
  void set_resize_listener(std::function<void(std::uint64_t size_bytes)> listener) {
    resize_listener_ = std::move(listener);
  }

  // Starts rediscovery and listens for announcements.
  void start();
  // Stops accepting NBD requests, lets in-flight ones finish, fails what the
  // engine still holds, then calls `done`.
  void stop(std::function<void()> done);
  // The stop must end soon, whatever the deadline (0 retries forever):
  // requests the target has not answered within stop_grace fail with EIO
  // (errc::abandoned); with `leave`, their connections are closed first,
  // unanswered, so the kernel holds them for the next aoe-attach.  Before
  // or after stop(); only the first call counts.
  void hurry(bool leave);
  // Enough for a target that answers to finish what it has; a stop by hand
  // (aoe-detach waits 10 s) still ends within seconds.
  static constexpr std::chrono::seconds stop_grace{2};

 private:
  AttachedTarget(boost::asio::io_context& io, std::vector<Link*> links, AttachOptions options, TargetInfo target);
  bool flush_before_serving(const std::function<bool()>& cancelled);
  void route_frames(Link& link);
  void join(const std::string& name);
  void schedule_rediscovery();
  void rediscover();
  void on_found(const TargetInfo& found);
  boost::asio::awaitable<void> recheck_claim(const TargetInfo& found);
  void on_link_event(const discovery::LinkEvent& event);

  boost::asio::io_context& io_;
  std::vector<Link*> links_;
  std::vector<std::unique_ptr<PacketLink>> joined_;  // links opened after start
  AttachOptions options_;
  discovery::Control control_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<nbd::Server> server_;
  std::unique_ptr<discovery::LinkWatcher> watcher_;
  boost::asio::steady_timer rediscover_timer_;
  boost::asio::steady_timer hurry_timer_;  // hurry(): stop_grace, then give up
  bool hurried_ = false;
  std::function<void(std::uint64_t)> resize_listener_;
  bool claim_lost_ = false;
  bool rediscovering_ = false;
  bool rediscover_again_ = false;  // asked for while a round ran: run another right after
  bool stopped_ = false;
  std::function<void()> on_rediscovery_idle_;  // stop()'s `done`, once the running round ends
};

}  // namespace aoe::daemon
