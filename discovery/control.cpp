#include "discovery/control.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <variant>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "initiator/errors.h"
#include "base/log.h"
#include "initiator/tag.h"

namespace aoe::discovery {
namespace {

namespace asio = boost::asio;

// Room for any control frame we send: the largest MTU PacketLink accepts.
constexpr std::size_t max_request_size = 9216 + wire::eth_header_size;

bool is_broadcast(const wire::Mac& mac) { return mac == wire::broadcast_mac; }

std::error_code aoe_error(const wire::Header& header) {
  return header.error ? make_error_code(from_aoe_error(header.error_code)) : std::error_code{};
}

// ATA status with ERR or DF set (docs/aoe-protocol.md §3.4).
std::error_code ata_error(const wire::AtaArg& arg) {
  if ((arg.cmd_status & wire::ata::failure_mask) == 0) return {};
  return from_ata_error(arg.err_feature);
}

// wire::Arg's alternatives are in Command order (ata, config, mask, reserve).
wire::Command command_of(const wire::Arg& arg) { return static_cast<wire::Command>(arg.index()); }

}  // namespace

// One exchange in flight; lives in its coroutine's frame.
struct Control::Pending {
  const Exchange& request;
  asio::steady_timer& timer;
  std::vector<Answer> replies;
  // Who answered already: a resend's duplicates are recognised in O(log n).
  std::set<std::tuple<const Link*, wire::Mac, std::uint16_t, std::uint8_t>> answered;
  std::size_t dropped = 0;  // distinct answers beyond max_answers
};

ConfigInfo config_info(Link* link, const wire::Header& header, const wire::ConfigArg& arg) {
  ConfigInfo info;
  info.link = link;
  info.mac = header.src;
  info.shelf = header.shelf;
  info.slot = header.slot;
  info.buffer_count = arg.buffer_count;
  info.firmware_version = arg.firmware_version;
  info.max_sectors = arg.max_sectors();
  info.aoe_version = arg.aoe_version;
  info.config_string.assign(reinterpret_cast<const char*>(arg.config_string.data()),
                            arg.config_string.size());
  return info;
}

Control::Control(Timing timing) : timing_(timing) {
  // Start somewhere new each run (tag.h), so a late answer to an earlier
  // process's exchange, or another host's, cannot match one of ours.
  tag::random_bits(std::span(&sequence_, 1));
}

void Control::attach(Link& link) {
  link.set_receiver([this, &link](std::span<const std::byte> frame) { on_frame(link, frame); });
}

namespace {

// vblade (25) announces itself with version 0 in its header (byte 14 is
// 0x08: R alone): a tag-0 Query Config answer otherwise as a version 1 one
// (docs/aoe-protocol.md §2.6).  True for such a frame.
bool is_versionless_announcement(std::span<const std::byte> frame) {
  constexpr std::size_t flags_at = 14, command_at = 19, tag_at = 20;
  if (frame.size() < wire::common_header_size + 8) return false;  // the header and Query Config's Arg
  if ((std::to_integer<unsigned>(frame[flags_at]) & 0xF8) != 0x08) return false;
  if (std::to_integer<unsigned>(frame[command_at]) != static_cast<unsigned>(wire::Command::query_config)) return false;
  for (std::size_t i = tag_at; i < tag_at + 4; ++i)
    if (frame[i] != std::byte{0}) return false;
  return true;
}

}  // namespace

bool Control::on_frame(Link& link, std::span<const std::byte> frame) {
  wire::Header header;
  if (decode_header(frame, header)) {
    if (!is_versionless_announcement(frame)) return false;
    std::vector<std::byte> fixed(frame.begin(), frame.end());
    fixed[14] |= std::byte{0x10};  // version 1
    return on_frame(link, fixed);
  }
  if (header.tag == 0 && header.response && header.command == wire::Command::query_config) {
    wire::Frame full;
    if (announcement_ && !wire::decode(frame, full) && !header.error &&
        header.shelf != wire::broadcast_shelf && header.slot != wire::broadcast_slot)
      announcement_(config_info(&link, header, std::get<wire::ConfigArg>(full.arg)));
    return false;  // the engine's too (Engine::on_frame)
  }
  if (!tag::is_control(header.tag)) return false;
  if (auto it = pending_.find(header.tag); it != pending_.end())
    deliver(*it->second, link, frame, header);
  else
    log::debug("{}: late control answer from {} for tag {:#x}", link.info().name,
               wire::format_mac(header.src), header.tag);
  return true;
}

// Keeps an answer that matches its request (docs/aoe-protocol.md §2.5: tag, shelf.slot,
// command, R; the port we asked unless we broadcast; for IDENTIFY what the
// target echoes of the ATA Arg, wire::answers).
void Control::deliver(Pending& pending, Link& link, std::span<const std::byte> frame,
                      const wire::Header& header) {
  const Exchange& request = pending.request;
  const bool broadcast = is_broadcast(request.dst);
  if (!header.response || header.command != command_of(request.arg) ||
      (request.shelf != wire::broadcast_shelf && header.shelf != request.shelf) ||
      (request.slot != wire::broadcast_slot && header.slot != request.slot) ||
      (!broadcast && header.src != request.dst) ||
      std::find(request.links.begin(), request.links.end(), &link) == request.links.end())
    return;
  auto key = std::tuple(static_cast<const Link*>(&link), header.src, header.shelf, header.slot);
  if (pending.answered.count(key)) return;  // a resend's duplicate
  if (pending.answered.size() >= timing_.max_answers) {
    ++pending.dropped;
    return;
  }
  wire::Frame decoded;
  if (auto ec = wire::decode(frame, decoded)) {
    log::info("{}: bad answer from {} to tag {:#x}: {}", link.info().name,
              wire::format_mac(header.src), header.tag, ec.message());
    return;
  }
  if (const auto* sent = std::get_if<wire::AtaArg>(&request.arg);
      sent && !header.error && !wire::answers(*sent, std::get<wire::AtaArg>(decoded.arg)))
    return;
  // Keep only the bytes the answer uses: a config answer is at most 1056
  // bytes however long the (padded, perhaps forged) frame.
  std::size_t used = frame.size();
  if (const auto* config = std::get_if<wire::ConfigArg>(&decoded.arg))
    used = std::min(used, std::max(wire::config_header_size + config->config_string.size(), wire::min_frame_size));
  Answer reply{&link, std::vector<std::byte>(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(used)), {}};
  if (wire::decode(reply.bytes, reply.frame)) return;  // cannot fail: the same bytes
  pending.answered.insert(key);
  pending.replies.push_back(std::move(reply));
  if (!broadcast) pending.timer.cancel();
}

void Control::send(const Exchange& request, std::uint32_t tag) {
  std::vector<std::byte> buffer(max_request_size);
  for (Link* link : request.links) {
    wire::Header header;
    header.dst = request.dst;
    header.src = link->info().mac;
    header.shelf = request.shelf;
    header.slot = request.slot;
    header.command = command_of(request.arg);
    header.tag = tag;
    std::size_t size = std::visit([&](const auto& arg) { return wire::encode(header, arg, buffer); },
                                  request.arg);
    if (size > link->info().mtu + wire::eth_header_size || !link->send(std::span(buffer).first(size)))
      log::info("{}: control frame of {} bytes not sent", link->info().name, size);
  }
}

Task<std::vector<Control::Answer>> Control::exchange(const Exchange& request) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  Pending pending{request, timer, {}, {}, 0};
  const std::uint32_t tag = tag::control(sequence_++);
  pending_[tag] = &pending;
  struct Unregister {
    std::unordered_map<std::uint32_t, Pending*>& table;
    std::uint32_t tag;
    ~Unregister() { table.erase(tag); }
  } unregister{pending_, tag};

  const bool broadcast = is_broadcast(request.dst);
  auto wait = broadcast ? request.window / timing_.tries : timing_.timeout;
  for (int attempt = 0; attempt < timing_.tries && (broadcast || pending.replies.empty()); ++attempt) {
    send(request, tag);
    timer.expires_after(wait);
    boost::system::error_code ignored;  // cancelled when the answer arrives
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (!broadcast) wait *= 2;
  }
  if (pending.dropped > 0)
    log::warning("{} answers to one query dropped: only {} distinct answers are kept (a flood of forged "
                 "answers on the segment?)",
                 pending.dropped, timing_.max_answers);
  co_return std::move(pending.replies);
}

Task<Result<Control::Answer>> Control::unicast(Link& link, wire::Mac mac, std::uint16_t shelf,
                                              std::uint8_t slot, wire::Arg arg) {
  Exchange request{{&link}, mac, shelf, slot, std::move(arg), {}};
  std::vector<Answer> replies = co_await exchange(request);
  if (replies.empty()) {
    log::info("{}: no answer from {} ({}) after {} tries", link.info().name,
              wire::format_target(shelf, slot), wire::format_mac(mac), timing_.tries);
    co_return Result<Answer>{errc::timed_out, {}};
  }
  Answer& reply = replies.front();
  co_return Result<Answer>{aoe_error(reply.frame.header), std::move(reply)};
}

Task<std::vector<ConfigInfo>> Control::query_config_broadcast(std::vector<Link*> links,
                                                              std::chrono::milliseconds window,
                                                              std::uint16_t shelf, std::uint8_t slot,
                                                              wire::ConfigCommand ccmd,
                                                              std::string config) {
  wire::ConfigArg arg;
  arg.ccmd = ccmd;
  arg.config_string = std::as_bytes(std::span(config));
  Exchange request{std::move(links), wire::broadcast_mac, shelf, slot, arg, window};
  std::vector<ConfigInfo> answers;
  for (const Answer& reply : co_await exchange(request)) {
    const wire::Header& header = reply.frame.header;
    if (header.error)
      log::info("{}: {} ({}) answers Query Config with {}", reply.link->info().name,
                wire::format_target(header.shelf, header.slot), wire::format_mac(header.src),
                aoe_error(header).message());
    else
      answers.push_back(config_info(reply.link, header, std::get<wire::ConfigArg>(reply.frame.arg)));
  }
  co_return answers;
}

Task<Result<ConfigInfo>> Control::query_config(Link& link, wire::Mac mac, std::uint16_t shelf,
                                               std::uint8_t slot, wire::ConfigCommand ccmd,
                                               std::string config) {
  wire::ConfigArg arg;
  arg.ccmd = ccmd;
  arg.config_string = std::as_bytes(std::span(config));
  Result<Answer> r = co_await unicast(link, mac, shelf, slot, arg);
  if (r.error) co_return Result<ConfigInfo>{r.error, {}};
  co_return Result<ConfigInfo>{
      {}, config_info(&link, r.value.frame.header, std::get<wire::ConfigArg>(r.value.frame.arg))};
}

Task<Result<Identity>> Control::identify(Link& link, wire::Mac mac, std::uint16_t shelf,
                                         std::uint8_t slot) {
  Result<Answer> r = co_await unicast(link, mac, shelf, slot, wire::ata_identify());
  if (r.error) co_return Result<Identity>{r.error, {}};
  const auto& ata = std::get<wire::AtaArg>(r.value.frame.arg);
  Result<Identity> out;
  if (!(out.error = ata_error(ata))) {
    if (ata.data.size() < identify_size)
      out.error = errc::bad_data_length;
    else
      out.error = parse_identify(ata.data.first(identify_size), out.value);
  }
  co_return out;
}

Task<Result<MaskList>> Control::mac_mask(Link& link, wire::Mac mac, std::uint16_t shelf,
                                         std::uint8_t slot, std::vector<wire::MaskEntry> directives) {
  if (directives.size() > 255) co_return Result<MaskList>{errc::request_too_large, {}};
  std::vector<std::byte> list;
  for (const wire::MaskEntry& d : directives) {
    list.push_back(std::byte{0});
    list.push_back(static_cast<std::byte>(d.directive));
    for (std::uint8_t b : d.mac) list.push_back(std::byte{b});
  }
  wire::MaskArg arg;
  arg.mcmd = directives.empty() ? wire::MaskCommand::read : wire::MaskCommand::edit;
  arg.dir_count = static_cast<std::uint8_t>(directives.size());
  arg.directives = list;
  Result<Answer> r = co_await unicast(link, mac, shelf, slot, arg);
  if (r.error) co_return Result<MaskList>{r.error, {}};
  const auto& answer = std::get<wire::MaskArg>(r.value.frame.arg);
  Result<MaskList> out;
  out.value.merror = answer.merror;
  out.value.dir_count = answer.dir_count;
  if (answer.merror == wire::MaskError::ok)
    for (std::size_t i = 0; i < answer.dir_count; ++i) out.value.macs.push_back(answer.entry(i).mac);
  co_return out;
}

Task<Result<std::vector<wire::Mac>>> Control::reserve(Link& link, wire::Mac mac, std::uint16_t shelf,
                                                      std::uint8_t slot, wire::ReserveCommand rcmd,
                                                      std::vector<wire::Mac> macs) {
  using Macs = std::vector<wire::Mac>;
  if (macs.size() > 255) co_return Result<Macs>{errc::request_too_large, {}};
  std::vector<std::byte> list;
  for (const wire::Mac& m : macs)
    for (std::uint8_t b : m) list.push_back(std::byte{b});
  wire::ReserveArg arg;
  arg.rcmd = rcmd;
  arg.nmacs = static_cast<std::uint8_t>(macs.size());
  arg.macs = list;
  Result<Answer> r = co_await unicast(link, mac, shelf, slot, arg);
  if (r.error) co_return Result<Macs>{r.error, {}};
  const auto& answer = std::get<wire::ReserveArg>(r.value.frame.arg);
  Result<Macs> out;
  for (std::size_t i = 0; i < answer.nmacs; ++i) out.value.push_back(answer.mac(i));
  co_return out;
}

}  // namespace aoe::discovery
