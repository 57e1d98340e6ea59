// control.h: request/response exchanges outside the I/O path (docs/aoe-protocol.md §4-§6):
// Query Config, IDENTIFY, MAC Mask and Reserve, over any set of Links.
//
// Control owns only its table of pending exchanges.  Whoever owns the links
// feeds it every received frame through on_frame(), which takes the frames
// that are ours (tag bit 30 set, see tag.h), reports the unsolicited Query
// Config announcements (tag 0, docs/aoe-protocol.md §2.6) and leaves the rest (engine tags,
// and the announcements too: the engine suspends a port that announces
// itself) to the caller:
//
//   link.set_receiver([&](auto frame) {
//     if (!control.on_frame(link, frame)) engine.on_frame(link, frame);
//   });
//
// Every exchange is a coroutine on the io_context: a unicast one resends
// after 250 ms, 500 ms, 1 s and then fails with errc::timed_out; a broadcast
// one collects every answer until its window ends.  AoE error responses
// (E flag, docs/aoe-protocol.md §2.2) come back as errc::aoe_*.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>  // before Asio 1.74's awaitable.hpp, which uses std::exchange unincluded
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "initiator/identify.h"
#include "initiator/link.h"
#include "initiator/wire.h"

namespace aoe::discovery {

template <typename T>
using Task = boost::asio::awaitable<T>;

// An outcome: value is meaningful only when error is clear.
template <typename T>
struct Result {
  std::error_code error;
  T value{};
};

// One Query Config answer (docs/aoe-protocol.md §4.1), copied out of its frame.
struct ConfigInfo {
  Link* link = nullptr;  // the local link it arrived on
  wire::Mac mac{};       // the answering target port
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  std::uint16_t buffer_count = 0;
  std::uint16_t firmware_version = 0;
  unsigned max_sectors = 2;  // Sector Count, 0 already mapped to 2
  std::uint8_t aoe_version = 0;
  std::string config_string;
};

// A MAC Mask answer (docs/aoe-protocol.md §5): merror is the target's verdict on an edit; on
// failure vblade returns no list and dir_count names the failing directive.
struct MaskList {
  wire::MaskError merror = wire::MaskError::ok;
  std::uint8_t dir_count = 0;
  std::vector<wire::Mac> macs;
};

struct ControlTiming {
  int tries = 3;                           // sends per exchange
  std::chrono::milliseconds timeout{250};  // first unicast wait, doubled per retry
  // Distinct answers (local link, port, shelf.slot) one exchange keeps: any
  // host can answer a broadcast, and a flood of forged answers must not
  // grow a locked, OOM-protected daemon without bound.  A real SAN has a
  // few hundred (shelves x slots x ports x NICs).
  std::size_t max_answers = 4096;
};

class Control {
 public:
  using Timing = ControlTiming;
  // Called for unsolicited Query Config answers (vblade announces itself).
  using Announcement = std::function<void(const ConfigInfo&)>;

  explicit Control(Timing timing = {});
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // Routes one received frame; false if it is not a control frame (the
  // caller hands it to the engine).  Call on the io_context thread.
  bool on_frame(Link& link, std::span<const std::byte> frame);

  // For tools without an engine: the link delivers to this Control only.
  void attach(Link& link);

  void set_announcement(Announcement announcement) { announcement_ = std::move(announcement); }

  // Query Config (docs/aoe-protocol.md §4) to the broadcast MAC on every link, collecting each
  // answer until `window` ends.  A concrete shelf and/or slot narrows the
  // question (docs/aoe-protocol.md §4.3).  Error answers are left out.
  Task<std::vector<ConfigInfo>> query_config_broadcast(
      std::vector<Link*> links, std::chrono::milliseconds window,
      std::uint16_t shelf = wire::broadcast_shelf, std::uint8_t slot = wire::broadcast_slot,
      wire::ConfigCommand ccmd = wire::ConfigCommand::read, std::string config = {});

  // Query Config to one target port.  test/prefix (CCmd 1/2) that do not
  // match get no answer, which shows up as errc::timed_out.
  Task<Result<ConfigInfo>> query_config(Link& link, wire::Mac mac, std::uint16_t shelf,
                                        std::uint8_t slot,
                                        wire::ConfigCommand ccmd = wire::ConfigCommand::read,
                                        std::string config = {});

  // ATA IDENTIFY DEVICE (docs/aoe-protocol.md §3.6) through one target port.
  Task<Result<Identity>> identify(Link& link, wire::Mac mac, std::uint16_t shelf, std::uint8_t slot);

  // MAC Mask List (docs/aoe-protocol.md §5): no directives reads the list, else edits it.
  Task<Result<MaskList>> mac_mask(Link& link, wire::Mac mac, std::uint16_t shelf, std::uint8_t slot,
                                  std::vector<wire::MaskEntry> directives = {});

  // Reserve / Release (docs/aoe-protocol.md §6): read, set or force-set; answers the resulting
  // list.  Release is a set with no MACs.
  Task<Result<std::vector<wire::Mac>>> reserve(Link& link, wire::Mac mac, std::uint16_t shelf,
                                               std::uint8_t slot, wire::ReserveCommand rcmd,
                                               std::vector<wire::Mac> macs = {});

 private:
  // A received answer, kept with its bytes: frame's spans point into them.
  struct Answer {
    Link* link = nullptr;
    std::vector<std::byte> bytes;
    wire::Frame frame;
  };
  struct Exchange {
    std::vector<Link*> links;
    wire::Mac dst{};  // broadcast_mac: every port answers, collect for `window`
    std::uint16_t shelf = 0;
    std::uint8_t slot = 0;
    wire::Arg arg;
    std::chrono::milliseconds window{0};
  };
  struct Pending;

  Task<std::vector<Answer>> exchange(const Exchange& request);
  Task<Result<Answer>> unicast(Link& link, wire::Mac mac, std::uint16_t shelf, std::uint8_t slot,
                              wire::Arg arg);
  void send(const Exchange& request, std::uint32_t tag);
  void deliver(Pending& pending, Link& link, std::span<const std::byte> frame,
               const wire::Header& header);

  Timing timing_;
  std::uint32_t sequence_;
  std::unordered_map<std::uint32_t, Pending*> pending_;  // by tag
  Announcement announcement_;
};

// Runs `body` on `io` with a private Control receiving every link's frames,
// until it returns; the links' receivers are cleared afterwards.  For mains
// (discover(), the admin tools, the claim), before or after a daemon routes
// the links itself.
template <typename T>
T run_control(boost::asio::io_context& io, const std::vector<Link*>& links,
              std::function<Task<T>(Control&)> body, Control::Timing timing = {}) {
  Control control(timing);
  for (Link* link : links) control.attach(*link);
  std::optional<T> result;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, body(control), [&](std::exception_ptr e, T value) {
    failure = e;
    if (!e) result = std::move(value);
  });
  io.restart();
  // The links keep waiting for frames, so run() would never return.
  while (!result && !failure && io.run_one() > 0) {
  }
  for (Link* link : links) link->set_receiver([](std::span<const std::byte>) {});
  if (failure) std::rethrow_exception(failure);
  return result ? std::move(*result) : T{};
}

// The ConfigInfo of a decoded Query Config frame.
ConfigInfo config_info(Link* link, const wire::Header& header, const wire::ConfigArg& arg);

}  // namespace aoe::discovery
