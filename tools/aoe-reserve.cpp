// aoe-reserve: read, set, force or release an AoE target's reserve list
// (Reserve/Release, docs/aoe-protocol.md §6): while it is not empty, only the listed
// initiator MACs get ATA service; others get AoE error 6.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "initiator/errors.h"
#include "base/log.h"
#include "discovery/admin.h"
#include "tools/admin_tool.h"
#include "tools/usage.h"

namespace {

namespace wire = aoe::wire;
using aoe::discovery::Control;
using aoe::discovery::TargetPort;
using aoe::discovery::Task;

constexpr const char* command_name = "Reserve/Release";

struct Command : aoe::tools::AdminTarget {
  std::string action = "list";
  wire::ReserveCommand rcmd = wire::ReserveCommand::read;
  std::vector<wire::Mac> macs;
};

void error(const std::string& message) { aoe::tools::fail("aoe-reserve", 0, message); }

// A set (RCmd 1) succeeds only from a MAC on the list (docs/aoe-protocol.md §6); say so
// when the new list leaves out the MAC we sent from.
void warn_if_excluded(const Command& r, const TargetPort& port, const std::vector<wire::Mac>& list) {
  if (list.empty() || std::find(list.begin(), list.end(), port.link->info().mac) != list.end()) return;
  aoe::log::warning("{}: port {} is now reserved for {}, which leaves out {} ({}): only a force changes it "
                    "from this host",
                    r.target, port.name(), aoe::discovery::format_macs(list), wire::format_mac(port.link->info().mac),
                    port.link->info().name);
}

Task<int> run_request(Control& control, Command r) {
  std::vector<TargetPort> ports = co_await aoe::discovery::find_ports(control, r.links, r.shelf, r.slot, r.window);
  if (ports.empty()) {
    error(r.no_answer());
    co_return aoe::exit_not_found;
  }
  int status = aoe::exit_ok;
  std::vector<std::vector<wire::Mac>> lists;
  for (const TargetPort& port : ports) {
    auto answer = co_await control.reserve(*port.link, port.mac, r.shelf, r.slot, r.rcmd, r.macs);
    if (answer.error == aoe::errc::aoe_target_reserved) {
      auto now = co_await control.reserve(*port.link, port.mac, r.shelf, r.slot, wire::ReserveCommand::read);
      error(fmt::format("{}: port {} is reserved for {}, not for {} (AoE error 6); override with "
                        "`aoe-reserve {} force{}`",
                        r.target, port.name(), now.error ? "another initiator" : aoe::discovery::format_macs(now.value),
                        wire::format_mac(port.link->info().mac), r.target,
                        r.action == "release" ? "" : " MAC..."));
      status = aoe::exit_failed;
      continue;
    }
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), aoe::discovery::describe_error(answer.error, command_name)));
      status = aoe::exit_failed;
      continue;
    }
    if (r.rcmd == wire::ReserveCommand::read) {
      if (!lists.empty() && answer.value != lists.front())
        aoe::log::warning("{}: port {} is reserved for {}, port {} for {}", r.target, port.name(),
                          aoe::discovery::format_macs(answer.value), ports.front().name(), aoe::discovery::format_macs(lists.front()));
    } else {
      aoe::log::info("{}: port {}: reserve list now {}", r.target, port.name(), aoe::discovery::format_macs(answer.value));
      warn_if_excluded(r, port, answer.value);
    }
    lists.push_back(std::move(answer.value));
  }
  if (r.rcmd == wire::ReserveCommand::read && !lists.empty())
    for (const wire::Mac& mac : lists.front()) fmt::print("{}\n", wire::format_mac(mac));
  co_return status;
}

int run(int argc, char** argv) {
  Command r;
  aoe::tools::AdminTool tool("Read, set, force or release the reserve list of an AoE target: the initiators allowed "
               "to use it.", "aoe-reserve", r);
  aoe::tools::cli::App& app = tool.app();
  tool.add_options();
  std::vector<std::string> words;
  app.add_option("command", r.action, "list (default), set, force or release")
      ->type_name("list|set|force|release")
      ->check(aoe::tools::cli::one_of({"list", "set", "force", "release"}));
  app.add_option("macs", words,
                 "Initiator MAC addresses for set (default: this host's, on the interfaces used) and force")
      ->type_name("MAC");
  if (auto code = tool.parse(argc, argv)) return *code;
  if (auto bad = aoe::discovery::parse_macs(words, r.macs))
    return tool.fail(aoe::exit_usage, fmt::format("'{}' is not a MAC address like 02:00:00:00:00:01", *bad));
  if ((r.action == "list" || r.action == "release") && !r.macs.empty())
    return tool.fail(aoe::exit_usage, r.action + " takes no MAC addresses");
  if (r.macs.size() > 255) return tool.fail(aoe::exit_usage, "at most 255 MAC addresses");
  r.rcmd = r.action == "list"    ? wire::ReserveCommand::read
           : r.action == "force" ? wire::ReserveCommand::force_set
                                 : wire::ReserveCommand::set;  // release: a set of no MACs (docs/aoe-protocol.md §6)
  return tool.run([&](Control& control) { return run_request(control, r); },
                  [&](const std::vector<aoe::Link*>& links) {
                    if (r.action == "set" && r.macs.empty())  // this host: every MAC it sends from (docs/aoe-protocol.md §6)
                      for (const aoe::Link* l : links)
                        if (std::find(r.macs.begin(), r.macs.end(), l->info().mac) == r.macs.end())
                          r.macs.push_back(l->info().mac);
                  });
}

}  // namespace

int main(int argc, char** argv) {
  return aoe::tools::guarded_main("aoe-reserve", [&] { return run(argc, argv); });
}
