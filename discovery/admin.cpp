#include "discovery/admin.h"

#include <algorithm>
#include <utility>

#include <fmt/core.h>

#include "initiator/errors.h"

namespace aoe::discovery {

std::string TargetPort::name() const {
  return fmt::format("{} via {}", wire::format_mac(mac), link ? link->info().name : "?");
}

std::vector<TargetPort> ports_from_answers(const std::vector<discovery::ConfigInfo>& answers, std::uint16_t shelf,
                                     std::uint8_t slot) {
  std::vector<const discovery::ConfigInfo*> mine;
  for (const auto& a : answers)
    if (a.shelf == shelf && a.slot == slot && a.link) mine.push_back(&a);
  std::stable_sort(mine.begin(), mine.end(), [](const auto* a, const auto* b) {
    return std::pair(a->link->info().ifindex, a->mac) < std::pair(b->link->info().ifindex, b->mac);
  });
  std::vector<TargetPort> ports;
  for (const auto* a : mine)
    if (std::none_of(ports.begin(), ports.end(), [&](const TargetPort& p) { return p.mac == a->mac; }))
      ports.push_back(TargetPort{a->link, a->mac, a->config_string});
  return ports;
}

std::vector<TargetPort> ports_of(const TargetInfo& target) {
  std::vector<TargetPort> ports;
  for (const PathInfo& p : target.paths)
    if (std::none_of(ports.begin(), ports.end(), [&](const TargetPort& q) { return q.mac == p.target_mac; }))
      ports.push_back(TargetPort{p.link, p.target_mac, p.config_string});
  return ports;
}

Task<std::vector<TargetPort>> find_ports(Control& control, std::vector<Link*> links, std::uint16_t shelf,
                                   std::uint8_t slot, std::chrono::milliseconds window) {
  auto answers = co_await control.query_config_broadcast(std::move(links), window, shelf, slot);
  co_return ports_from_answers(answers, shelf, slot);
}

std::string describe_error(std::error_code ec, std::string_view command) {
  if (ec == errc::aoe_unrecognized_command)
    return fmt::format("target does not implement {} (AoE error 1)", command);
  if (ec == errc::aoe_bad_argument)
    return fmt::format("target rejected the {} request as a bad argument (AoE error 2)", command);
  if (ec == errc::timed_out)
    return fmt::format("no answer to {} (the port is gone, or does not implement it)", command);
  return ec.message();
}

std::string describe_mask_error(const discovery::MaskList& answer,
                                const std::vector<wire::MaskEntry>& directives) {
  std::string which;
  if (answer.dir_count < directives.size())
    which = fmt::format(" at directive {} ({} {})", answer.dir_count + 1,
                        directives[answer.dir_count].directive == wire::MaskDirective::add ? "add" : "del",
                        wire::format_mac(directives[answer.dir_count].mac));
  std::string applied = answer.dir_count > 0
                            ? fmt::format("; the {} directive(s) before it were applied", answer.dir_count)
                            : "";
  switch (answer.merror) {
    case wire::MaskError::list_full:
      return fmt::format("mask list full{} (MError 3){}", which, applied);
    case wire::MaskError::bad_directive:
      return fmt::format("target rejected a bad directive{} (MError 2){}", which, applied);
    case wire::MaskError::unspecified:
      return fmt::format("target refused the edit{} (MError 1){}", which, applied);
    default:
      return fmt::format("target refused the edit with MError {}{}", static_cast<int>(answer.merror), which);
  }
}

std::optional<std::string> parse_macs(const std::vector<std::string>& words, std::vector<wire::Mac>& out) {
  for (const std::string& word : words) {
    std::string_view rest = word;
    while (true) {
      auto comma = rest.find(',');
      std::string_view one = rest.substr(0, comma);
      wire::Mac mac;
      if (!wire::parse_mac(one, mac)) return std::string(one);
      if (std::find(out.begin(), out.end(), mac) == out.end()) out.push_back(mac);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return std::nullopt;
}

std::string format_macs(const std::vector<wire::Mac>& macs) {
  if (macs.empty()) return "(empty)";
  std::string out;
  for (const auto& m : macs) out += (out.empty() ? "" : ", ") + wire::format_mac(m);
  return out;
}

}  // namespace aoe::discovery
