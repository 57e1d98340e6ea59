// aoe-mask: read or edit an AoE target's MAC mask list (docs/aoe-protocol.md §5), the list of
// initiator MACs it serves; an empty list serves everyone.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "base/log.h"
#include "discovery/admin.h"
#include "tools/admin_tool.h"
#include "tools/usage.h"

namespace {

namespace wire = aoe::wire;
using aoe::discovery::Control;
using aoe::discovery::TargetPort;
using aoe::discovery::Task;

constexpr const char* command_name = "MAC Mask List";

struct Command : aoe::tools::AdminTarget {
  std::string action = "list";
  std::vector<wire::MaskEntry> directives;  // empty: list
};

void error(const std::string& message) { aoe::tools::fail("aoe-mask", 0, message); }

// After an edit: a non-empty list without any of our MACs locks this host
// out of that port (vblade then ignores us, docs/aoe-protocol.md §5).
void warn_if_locked_out(const Command& r, const TargetPort& port, const std::vector<wire::Mac>& list) {
  if (list.empty()) return;
  for (const aoe::Link* l : r.links)
    if (std::find(list.begin(), list.end(), l->info().mac) != list.end()) return;
  aoe::log::warning("{}: port {} now serves only {}: it will ignore this host from now on", r.target, port.name(),
                    aoe::discovery::format_macs(list));
}

Task<int> run_request(Control& control, Command r) {
  std::vector<TargetPort> ports = co_await aoe::discovery::find_ports(control, r.links, r.shelf, r.slot, r.window);
  if (ports.empty()) {
    error(r.no_answer());
    co_return aoe::exit_not_found;
  }
  int status = aoe::exit_ok;
  std::vector<std::vector<wire::Mac>> lists;  // per port that answered
  for (const TargetPort& port : ports) {
    auto answer = co_await control.mac_mask(*port.link, port.mac, r.shelf, r.slot, r.directives);
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), aoe::discovery::describe_error(answer.error, command_name)));
      status = aoe::exit_failed;
      continue;
    }
    if (answer.value.merror != wire::MaskError::ok) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(),
                        aoe::discovery::describe_mask_error(answer.value, r.directives)));
      status = aoe::exit_failed;
      continue;
    }
    if (!r.directives.empty()) {
      aoe::log::info("{}: port {}: mask list now {}", r.target, port.name(), aoe::discovery::format_macs(answer.value.macs));
      warn_if_locked_out(r, port, answer.value.macs);
    } else if (!lists.empty() && answer.value.macs != lists.front()) {
      aoe::log::warning("{}: port {} serves {}, port {} {}", r.target, port.name(),
                        aoe::discovery::format_macs(answer.value.macs), ports.front().name(), aoe::discovery::format_macs(lists.front()));
    }
    lists.push_back(std::move(answer.value.macs));
  }
  if (r.directives.empty() && !lists.empty())
    for (const wire::Mac& mac : lists.front()) fmt::print("{}\n", wire::format_mac(mac));
  co_return status;
}

int run(int argc, char** argv) {
  Command r;
  aoe::tools::AdminTool tool("Read or edit the MAC mask list of an AoE target: the initiators it serves.", "aoe-mask", r);
  aoe::tools::cli::App& app = tool.app();
  tool.add_options();
  std::vector<std::string> words;
  app.add_option("command", r.action, "list (default), add or del")
      ->type_name("list|add|del")
      ->check(aoe::tools::cli::one_of({"list", "add", "del"}));
  app.add_option("macs", words, "Initiator MAC addresses for add and del")->type_name("MAC");
  if (auto code = tool.parse(argc, argv)) return *code;
  std::vector<wire::Mac> macs;
  if (auto bad = aoe::discovery::parse_macs(words, macs))
    return tool.fail(aoe::exit_usage, fmt::format("'{}' is not a MAC address like 02:00:00:00:00:01", *bad));
  if (r.action == "list" && !macs.empty())
    return tool.fail(aoe::exit_usage, "list takes no MAC addresses");
  if (r.action != "list" && macs.empty())
    return tool.fail(aoe::exit_usage, r.action + " needs at least one MAC address");
  if (macs.size() > 255) return tool.fail(aoe::exit_usage, "at most 255 MAC addresses at once");
  auto directive = r.action == "add" ? wire::MaskDirective::add : wire::MaskDirective::remove;
  for (const wire::Mac& mac : macs) r.directives.push_back({directive, mac});
  return tool.run([&](Control& control) { return run_request(control, r); });
}

}  // namespace

int main(int argc, char** argv) {
  return aoe::tools::guarded_main("aoe-mask", [&] { return run(argc, argv); });
}
