#include "daemon/shelf.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/core.h>

#include "daemon/attach_child.h"
#include "daemon/exit_codes.h"
#include "daemon/shelf_pid.h"
#include "daemon/shelf_roster.h"
#include "daemon/status_client.h"
#include "daemon/status_schema.h"
#include "discovery/control.h"
#include "base/log.h"
#include "initiator/wire.h"

namespace aoe::daemon {

namespace {

using Clock = std::chrono::steady_clock;
using Id = std::pair<std::uint16_t, std::uint8_t>;

// The pid of the aoe-attach answering on the target's status socket.  A
// live one answers at once; a stale socket refuses at once.
std::optional<long> served_elsewhere(const std::string& target) {
  std::error_code ec;
  auto doc = query_status(status_socket_path(target), std::chrono::milliseconds(500), ec);
  if (!doc) return std::nullopt;
  return doc->value("pid", 0L);
}

class Shelf {
 public:
  Shelf(boost::asio::io_context& io, boost::asio::signal_set& signals, const std::vector<Link*>& links,
        const ShelfOptions& options, Readiness& readiness)
      : io_(io), signals_(signals), links_(links), o_(options), readiness_(readiness), children_(io, SIGCHLD),
        rediscover_timer_(io) {}

  int run();

 private:
  // One in State::elsewhere is asked again whenever it is seen.
  using State = MemberState;
  struct Member {
    std::string name;
    State state = State::starting;
    std::unique_ptr<AttachChild> child;
    std::string device;
    int failures = 0;  // in a row
    std::unique_ptr<boost::asio::steady_timer> retry;
  };

  void seen(std::uint16_t shelf, std::uint8_t slot, const char* how);
  void start(Member& m);
  void on_ready(Member& m, const std::string& line);
  void on_exit(Member& m, int status);
  void reap();
  void wait_children();
  void discover();
  void schedule_discovery();
  void on_signal(int sig);
  void check_ready();
  void check_stopped();

  boost::asio::io_context& io_;
  boost::asio::signal_set& signals_;
  std::vector<Link*> links_;
  const ShelfOptions& o_;
  Readiness& readiness_;
  discovery::Control control_;
  boost::asio::signal_set children_;
  boost::asio::steady_timer rediscover_timer_;
  std::map<Id, Member> members_;
  std::set<Id> ignored_;  // seen, not selected: logged once
  bool first_round_done_ = false;
  bool ready_ = false;
  int stopping_ = 0;  // the signal passed on
};

int Shelf::run() {
  pid_t holder = 0;
  std::error_code ec;
  const int lock = lock_shelf_pid(holder, ec);
  if (lock < 0) {
    const std::string why =
        ec == std::errc::resource_unavailable_try_again
            ? fmt::format("another aoe-attach --all (pid {}) serves this host's targets already", holder)
            : fmt::format("cannot lock {}: {}", shelf_pid_path().string(), ec.message());
    readiness_.failed(exit_failed, why);
    return exit_failed;
  }
  for (Link* l : links_) control_.attach(*l);
  // vblade announces itself when it starts: attach it now, not at the next round.
  control_.set_announcement([this](const discovery::ConfigInfo& c) { seen(c.shelf, c.slot, "announced itself"); });
  wait_children();
  signals_.async_wait([this](const boost::system::error_code& sec, int sig) {
    if (!sec) on_signal(sig);
  });
  std::string names;
  for (const Link* l : links_) names += (names.empty() ? "" : ", ") + l->info().name;
  readiness_.status(fmt::format("searching for targets on {}", names));
  discover();
  io_.run();
  for (Link* l : links_) l->set_receiver(nullptr);
  ::unlink(shelf_pid_path().c_str());
  ::close(lock);
  return exit_ok;
}

void Shelf::wait_children() {
  children_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reap();
    wait_children();
  });
}

void Shelf::reap() {
  int status = 0;
  for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;)
    for (auto& [id, m] : members_)
      if (m.child && m.child->pid() == pid) {
        m.child->exited(status);
        break;
      }
}

// A target answered discovery or announced itself.
void Shelf::seen(std::uint16_t shelf, std::uint8_t slot, const char* how) {
  if (stopping_ || shelf == wire::broadcast_shelf || slot == wire::broadcast_slot) return;
  const Id id{shelf, slot};
  const std::string name = wire::format_target(shelf, slot);
  if (!o_.selection.matches(wire::TargetId{shelf, slot})) {
    if (ignored_.insert(id).second) log::info("{} {}: not selected, left alone", name, how);
    return;
  }
  auto [it, added] = members_.try_emplace(id);
  Member& m = it->second;
  // One running is served; one that failed is started again by its timer;
  // one detached stays detached, one given up stays so until we restart.
  if (!added && m.state != State::elsewhere) return;
  m.name = name;
  if (auto pid = served_elsewhere(name)) {
    if (m.state != State::elsewhere || added)
      log::notice("{} {}: served by another aoe-attach here (pid {}): left to it", name, how, *pid);
    m.state = State::elsewhere;
    return;
  }
  log::notice("{} {}: attaching it", name, how);
  start(m);
}

void Shelf::start(Member& m) {
  m.state = State::starting;
  m.retry.reset();
  AttachChild::Events events;
  events.ready = [this, &m](const std::string& line) { on_ready(m, line); };
  events.exited = [this, &m](int status) { on_exit(m, status); };
  std::error_code ec;
  m.child = AttachChild::spawn(io_, o_.program, o_.child_args(m.name), std::move(events), ec);
  if (!m.child) {
    log::error("{}: cannot start {}: {}", m.name, o_.program, ec.message());
    m.state = State::given_up;
    check_ready();
    return;
  }
  log::info("{}: aoe-attach pid {}", m.name, m.child->pid());
}

void Shelf::on_ready(Member& m, const std::string& line) {
  m.state = State::ready;
  m.device = line;
  m.failures = 0;
  log::notice("{}: serving {}", m.name, line);
  check_ready();
}

void Shelf::on_exit(Member& m, int status) {
  // The handlers of the child being destroyed are done with: the object goes after this returns.
  boost::asio::post(io_, [child = std::shared_ptr<AttachChild>(std::move(m.child))] {});
  m.state = after_child_exit(status, stopping_ != 0);
  if (m.state == State::waiting) {
    ++m.failures;
    const auto delay = RestartPolicy{o_.retry_delay, o_.rediscover_interval}.delay(m.failures);
    log::warning("{}: its aoe-attach {}; starting another in {:.1f} s", m.name, describe_wait_status(status),
                 static_cast<double>(delay.count()) / 1000);
    m.retry = std::make_unique<boost::asio::steady_timer>(io_, delay);
    m.retry->async_wait([this, &m](const boost::system::error_code& ec) {
      if (!ec && !stopping_ && m.state == State::waiting) start(m);
    });
  } else if (m.state == State::given_up) {
    log::error("{}: its aoe-attach {}: not tried again (see above)", m.name, describe_wait_status(status));
  } else if (!stopping_) {  // detached by an operator: aoe-detach, or a disconnect from outside
    log::notice("{}: detached{}; it stays detached until aoe-attach --all restarts", m.name,
                m.device.empty() ? "" : " from " + m.device);
  }
  m.device.clear();
  check_ready();
  check_stopped();
}

void Shelf::discover() {
  if (stopping_) return;
  boost::asio::co_spawn(
      io_,
      [this]() -> boost::asio::awaitable<void> {
        auto answers = co_await control_.query_config_broadcast(links_, o_.discovery_window);
        std::sort(answers.begin(), answers.end(), [](const auto& a, const auto& b) {
          return std::pair(a.shelf, a.slot) < std::pair(b.shelf, b.slot);
        });
        for (const auto& a : answers) seen(a.shelf, a.slot, "answered discovery");
        if (!first_round_done_) {
          first_round_done_ = true;
          if (members_.empty()) log::notice("no selected target answered yet; attaching them as they appear");
          check_ready();
        }
        schedule_discovery();
      },
      boost::asio::detached);
}

void Shelf::schedule_discovery() {
  if (stopping_) return;
  rediscover_timer_.expires_after(o_.rediscover_interval);
  rediscover_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) discover();
  });
}

void Shelf::check_ready() {
  if (ready_ || !first_round_done_ || stopping_) return;
  std::vector<RosterEntry> entries;
  std::string lines;
  for (const auto& [id, m] : members_) {
    entries.push_back({m.name, m.state});
    if (m.state == State::ready) lines += fmt::format("{}{} {}", lines.empty() ? "" : "\n", m.name, m.device);
  }
  const RosterSummary roster = summarize(entries);
  if (!roster.settled) {
    readiness_.status(fmt::format("attaching {}", roster.first_starting));
    return;
  }
  ready_ = true;
  if (roster.failed)
    log::warning("{} target(s) could not be attached (see above); the others are served", roster.failed);
  readiness_.status(roster.elsewhere ? fmt::format("serving {} target(s), {} served by another aoe-attach here",
                                                   roster.serving, roster.elsewhere)
                                     : fmt::format("serving {} target(s)", roster.serving));
  readiness_.ready(lines);
}

// SIGTERM: each child leaves a device in use to its successor; SIGINT: each
// detaches (daemon/kernel_serving.cpp).  Either way we go once they are gone.
void Shelf::on_signal(int sig) {
  stopping_ = sig;
  log::notice("signal {}: stopping the aoe-attach of every target", sig);
  readiness_.stopping(fmt::format("stopping: signal {}", sig));
  if (!ready_) readiness_.failed(exit_failed, fmt::format("cancelled by signal {}", sig));
  rediscover_timer_.cancel();
  for (auto& [id, m] : members_) {
    m.retry.reset();
    if (m.child) m.child->signal(sig);
  }
  check_stopped();
}

void Shelf::check_stopped() {
  if (!stopping_) return;
  for (const auto& [id, m] : members_)
    if (m.child) return;
  io_.stop();
}

}  // namespace

int run_shelf(boost::asio::io_context& io, boost::asio::signal_set& signals, const std::vector<Link*>& links,
              const ShelfOptions& options, Readiness& readiness) {
  Shelf shelf(io, signals, links, options, readiness);
  return shelf.run();
}

}  // namespace aoe::daemon
