// aoe-mask: read or edit an AoE target's MAC mask list (doc §5), the list of
// initiator MACs it serves; an empty list serves everyone.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/core.h>

#include "initiator/log.h"
#include "tools/admin.h"
#include "tools/common.h"

namespace {

namespace tools = aoe::tools;
namespace wire = aoe::wire;
using aoe::tools::Control;
using aoe::tools::Port;
using aoe::tools::Task;

constexpr const char* command_name = "MAC Mask List";

struct Request {
  std::string action = "list";
  std::vector<wire::MaskEntry> directives;  // empty: list
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  std::string target;
  std::chrono::milliseconds window{1000};
  std::vector<aoe::Link*> links;
};

void error(const std::string& message) { fmt::print(stderr, "aoe-mask: {}\n", message); }

// After an edit: a non-empty list without any of our MACs locks this host
// out of that port (vblade then ignores us, doc §5).
void warn_if_locked_out(const Request& r, const Port& port, const std::vector<wire::Mac>& list) {
  if (list.empty()) return;
  for (const aoe::Link* l : r.links)
    if (std::find(list.begin(), list.end(), l->info().mac) != list.end()) return;
  aoe::log::warning("{}: port {} now serves only {}: it will ignore this host from now on", r.target, port.name(),
                    tools::format_macs(list));
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
  std::vector<std::vector<wire::Mac>> lists;  // per port that answered
  for (const Port& port : ports) {
    auto answer = co_await control.mac_mask(*port.link, port.mac, r.shelf, r.slot, r.directives);
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), tools::describe_error(answer.error, command_name)));
      status = tools::exit_failed;
      continue;
    }
    if (answer.value.merror != wire::MaskError::ok) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(),
                        tools::describe_mask_error(answer.value, r.directives)));
      status = tools::exit_failed;
      continue;
    }
    if (!r.directives.empty()) {
      aoe::log::info("{}: port {}: mask list now {}", r.target, port.name(), tools::format_macs(answer.value.macs));
      warn_if_locked_out(r, port, answer.value.macs);
    } else if (!lists.empty() && answer.value.macs != lists.front()) {
      aoe::log::warning("{}: port {} serves {}, port {} {}", r.target, port.name(),
                        tools::format_macs(answer.value.macs), ports.front().name(), tools::format_macs(lists.front()));
    }
    lists.push_back(std::move(answer.value.macs));
  }
  if (r.directives.empty() && !lists.empty())
    for (const wire::Mac& mac : lists.front()) fmt::print("{}\n", wire::format_mac(mac));
  co_return status;
}

int run(int argc, char** argv) {
  CLI::App app{"Read or edit the MAC mask list of an AoE target: the initiators it serves.", "aoe-mask"};
  tools::CommonOptions common;
  tools::add_common_options(app, common);
  double seconds = 1.0;
  app.add_option("-t,--timeout", seconds, "Seconds to wait for the target's ports to answer (default 1)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.05, 60.0));
  Request r;
  std::vector<std::string> words;
  app.add_option("target", r.target, "The target, as eSHELF.SLOT (e.g. e1.2)")->required()->type_name("eS.L");
  app.add_option("command", r.action, "list (default), add or del")
      ->type_name("list|add|del")
      ->check(CLI::IsMember({"list", "add", "del"}));
  app.add_option("macs", words, "Initiator MAC addresses for add and del")->type_name("MAC");
  if (auto code = tools::parse(app, common, argc, argv)) return *code;

  if (auto code = tools::parse_target_name(app, r.target, r.shelf, r.slot)) return *code;
  std::vector<wire::Mac> macs;
  if (auto bad = tools::parse_macs(words, macs))
    return tools::fail(app, tools::exit_usage, fmt::format("'{}' is not a MAC address like 02:00:00:00:00:01", *bad));
  if (r.action == "list" && !macs.empty())
    return tools::fail(app, tools::exit_usage, "list takes no MAC addresses");
  if (r.action != "list" && macs.empty())
    return tools::fail(app, tools::exit_usage, r.action + " needs at least one MAC address");
  if (macs.size() > 255) return tools::fail(app, tools::exit_usage, "at most 255 MAC addresses at once");
  auto directive = r.action == "add" ? wire::MaskDirective::add : wire::MaskDirective::remove;
  for (const wire::Mac& mac : macs) r.directives.push_back({directive, mac});
  r.window = std::chrono::milliseconds(std::lround(seconds * 1000));

  boost::asio::io_context io;
  tools::Links links;
  if (auto code = tools::open_links(io, app, common, links)) return *code;
  r.links = links.links;
  return tools::run_control<int>(io, links.links, [&](Control& control) { return run_request(control, r); });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aoe-mask: {}\n", e.what());
    return tools::exit_failed;
  }
}
