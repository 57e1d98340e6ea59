// aoe-reserve: read, set, force or release an AoE target's reserve list
// (Reserve/Release, doc §6): while it is not empty, only the listed
// initiator MACs get ATA service; others get AoE error 6.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/core.h>

#include "initiator/errors.h"
#include "initiator/log.h"
#include "tools/admin.h"
#include "tools/common.h"

namespace {

namespace tools = aoe::tools;
namespace wire = aoe::wire;
using aoe::tools::Control;
using aoe::tools::Port;
using aoe::tools::Task;

constexpr const char* command_name = "Reserve/Release";

struct Request {
  std::string action = "list";
  wire::ReserveCommand rcmd = wire::ReserveCommand::read;
  std::vector<wire::Mac> macs;
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  std::string target;
  std::chrono::milliseconds window{1000};
  std::vector<aoe::Link*> links;
};

void error(const std::string& message) { fmt::print(stderr, "aoe-reserve: {}\n", message); }

// A set (RCmd 1) succeeds only from a MAC on the list (doc §6); say so
// when the new list leaves out the MAC we sent from.
void warn_if_excluded(const Request& r, const Port& port, const std::vector<wire::Mac>& list) {
  if (list.empty() || std::find(list.begin(), list.end(), port.link->info().mac) != list.end()) return;
  aoe::log::warning("{}: port {} is now reserved for {}, which leaves out {} ({}): only a force changes it "
                    "from this host",
                    r.target, port.name(), tools::format_macs(list), wire::format_mac(port.link->info().mac),
                    port.link->info().name);
}

Task<int> run_request(Control& control, Request r) {
  std::vector<Port> ports = co_await tools::find_ports(control, r.links, r.shelf, r.slot, r.window);
  if (ports.empty()) {
    error(fmt::format("{}: no answer to Query Config within {:.1f} s (absent, or this host is not on its "
                      "MAC mask list)",
                      r.target, static_cast<double>(r.window.count()) / 1000));
    co_return tools::exit_not_found;
  }
  int status = tools::exit_ok;
  std::vector<std::vector<wire::Mac>> lists;
  for (const Port& port : ports) {
    auto answer = co_await control.reserve(*port.link, port.mac, r.shelf, r.slot, r.rcmd, r.macs);
    if (answer.error == aoe::errc::aoe_target_reserved) {
      auto now = co_await control.reserve(*port.link, port.mac, r.shelf, r.slot, wire::ReserveCommand::read);
      error(fmt::format("{}: port {} is reserved for {}, not for {} (AoE error 6); override with "
                        "`aoe-reserve {} force{}`",
                        r.target, port.name(), now.error ? "another initiator" : tools::format_macs(now.value),
                        wire::format_mac(port.link->info().mac), r.target,
                        r.action == "release" ? "" : " MAC..."));
      status = tools::exit_failed;
      continue;
    }
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), tools::describe_error(answer.error, command_name)));
      status = tools::exit_failed;
      continue;
    }
    if (r.rcmd == wire::ReserveCommand::read) {
      if (!lists.empty() && answer.value != lists.front())
        aoe::log::warning("{}: port {} is reserved for {}, port {} for {}", r.target, port.name(),
                          tools::format_macs(answer.value), ports.front().name(), tools::format_macs(lists.front()));
    } else {
      aoe::log::info("{}: port {}: reserve list now {}", r.target, port.name(), tools::format_macs(answer.value));
      warn_if_excluded(r, port, answer.value);
    }
    lists.push_back(std::move(answer.value));
  }
  if (r.rcmd == wire::ReserveCommand::read && !lists.empty())
    for (const wire::Mac& mac : lists.front()) fmt::print("{}\n", wire::format_mac(mac));
  co_return status;
}

int run(int argc, char** argv) {
  CLI::App app{"Read, set, force or release the reserve list of an AoE target: the initiators allowed "
               "to use it.",
               "aoe-reserve"};
  tools::CommonOptions common;
  tools::add_common_options(app, common);
  double seconds = 1.0;
  app.add_option("-t,--timeout", seconds, "Seconds to wait for the target's ports to answer (default 1)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.05, 60.0));
  Request r;
  std::vector<std::string> words;
  app.add_option("target", r.target, "The target, as eSHELF.SLOT (e.g. e1.2)")->required()->type_name("eS.L");
  app.add_option("command", r.action, "list (default), set, force or release")
      ->type_name("list|set|force|release")
      ->check(CLI::IsMember({"list", "set", "force", "release"}));
  app.add_option("macs", words,
                 "Initiator MAC addresses for set (default: this host's, on the interfaces used) and force")
      ->type_name("MAC");
  if (auto code = tools::parse(app, common, argc, argv)) return *code;

  if (auto code = tools::parse_target_name(app, r.target, r.shelf, r.slot)) return *code;
  if (auto bad = tools::parse_macs(words, r.macs))
    return tools::fail(app, tools::exit_usage, fmt::format("'{}' is not a MAC address like 02:00:00:00:00:01", *bad));
  if ((r.action == "list" || r.action == "release") && !r.macs.empty())
    return tools::fail(app, tools::exit_usage, r.action + " takes no MAC addresses");
  if (r.macs.size() > 255) return tools::fail(app, tools::exit_usage, "at most 255 MAC addresses");
  r.rcmd = r.action == "list"    ? wire::ReserveCommand::read
           : r.action == "force" ? wire::ReserveCommand::force_set
                                 : wire::ReserveCommand::set;  // release: a set of no MACs (doc §6)
  r.window = std::chrono::milliseconds(std::lround(seconds * 1000));

  boost::asio::io_context io;
  tools::Links links;
  if (auto code = tools::open_links(io, app, common, links)) return *code;
  r.links = links.links;
  if (r.action == "set" && r.macs.empty())  // this host: every MAC it sends from (doc §6)
    for (const aoe::Link* l : links.links)
      if (std::find(r.macs.begin(), r.macs.end(), l->info().mac) == r.macs.end()) r.macs.push_back(l->info().mac);
  return tools::run_control<int>(io, links.links, [&](Control& control) { return run_request(control, r); });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aoe-reserve: {}\n", e.what());
    return tools::exit_failed;
  }
}
