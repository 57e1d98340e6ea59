// aoe-cfg: read, set or test a target's config string (Query Config, doc §4),
// like Coraid's aoecfg, without the kernel driver.
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
#include "tools/claim.h"
#include "tools/common.h"

namespace {

namespace tools = aoe::tools;
namespace wire = aoe::wire;
using aoe::tools::Control;
using aoe::tools::Port;
using aoe::tools::Task;

enum class Op { read, set, force, test, prefix, claim, force_claim, release_claim };

struct Request {
  Op op = Op::read;
  std::string value;
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  std::string target;
  std::chrono::milliseconds window{1000};
  std::vector<aoe::Link*> links;
};

void error(const std::string& message) { fmt::print(stderr, "aoe-cfg: {}\n", message); }

std::string not_found(const Request& r) {
  std::string names;
  for (const aoe::Link* l : r.links) names += (names.empty() ? "" : ",") + l->info().name;
  return fmt::format("{}: no answer to Query Config on {} within {:.1f} s (absent, or this host is not on its "
                     "MAC mask list)",
                     r.target, names, static_cast<double>(r.window.count()) / 1000);
}

// Set if empty (CCmd 3), port by port: vblade keeps a string per port.
Task<int> set_if_empty(Control& control, const Request& r, const std::vector<Port>& ports) {
  int status = tools::exit_ok;
  for (const Port& port : ports) {
    auto answer = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot,
                                                wire::ConfigCommand::set_if_empty, r.value);
    if (answer.error == aoe::errc::aoe_config_string_present) {
      auto now = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot);
      if (!now.error && now.value.config_string == r.value) continue;  // set meanwhile to the same
      error(fmt::format("{}: port {} already has a config string (AoE error 4): {}", r.target, port.name(),
                        now.error ? "(cannot read it: " + now.error.message() + ")" : now.value.config_string));
      status = tools::exit_failed;
    } else if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), tools::describe_error(answer.error, "Query Config")));
      status = tools::exit_failed;
    }
  }
  co_return status;
}

Task<int> force_set(Control& control, const Request& r, const std::vector<Port>& ports) {
  int status = tools::exit_ok;
  for (const Port& port : ports) {
    auto answer = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot,
                                                wire::ConfigCommand::force_set, r.value);
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), tools::describe_error(answer.error, "Query Config")));
      status = tools::exit_failed;
    }
  }
  co_return status;
}

// The target decides (CCmd 1/2): it answers a match and stays silent
// otherwise (doc §4.2).  A match means every port matches.
Task<int> test(Control& control, const Request& r, const std::vector<Port>& ports) {
  auto ccmd = r.op == Op::test ? wire::ConfigCommand::test_exact : wire::ConfigCommand::test_prefix;
  for (const Port& port : ports) {
    auto answer = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot, ccmd, r.value);
    if (answer.error == aoe::errc::timed_out) {
      aoe::log::info("{}: port {} does not match", r.target, port.name());
      co_return tools::exit_failed;
    }
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), tools::describe_error(answer.error, "Query Config")));
      co_return tools::exit_failed;
    }
  }
  co_return tools::exit_ok;
}

Task<int> run_request(Control& control, Request r) {
  std::vector<Port> ports = co_await tools::find_ports(control, r.links, r.shelf, r.slot, r.window);
  if (ports.empty()) {
    error(not_found(r));
    co_return tools::exit_not_found;
  }
  switch (r.op) {
    case Op::read: {
      for (const Port& port : ports)
        if (port.config_string != ports.front().config_string)
          aoe::log::warning("{}: port {} has config string \"{}\", port {} \"{}\"", r.target, port.name(),
                            port.config_string, ports.front().name(), ports.front().config_string);
      fmt::print("{}\n", ports.front().config_string);
      co_return tools::exit_ok;
    }
    case Op::set: co_return co_await set_if_empty(control, r, ports);
    case Op::force: co_return co_await force_set(control, r, ports);
    case Op::test:
    case Op::prefix: co_return co_await test(control, r, ports);
    case Op::claim:
    case Op::force_claim:
    case Op::release_claim: {
      // No co_await inside ?: (GCC 12 destroys the temporary twice).
      tools::ClaimResult result;
      if (r.op == Op::release_claim) {
        result = co_await tools::async_release(control, ports, r.shelf, r.slot, tools::host_identity());
      } else {
        auto mode = r.op == Op::claim ? tools::ClaimMode::normal : tools::ClaimMode::force;
        result = co_await tools::async_claim(control, ports, r.shelf, r.slot, tools::host_identity(), mode);
      }
      if (result.ok()) co_return tools::exit_ok;
      error(result.message);
      co_return result.status == tools::ClaimResult::Status::held ? tools::exit_claimed : tools::exit_failed;
    }
  }
  co_return tools::exit_failed;
}

int run(int argc, char** argv) {
  CLI::App app{"Read, set or test the config string of an AoE target.", "aoe-cfg"};
  tools::CommonOptions common;
  tools::add_common_options(app, common);
  double seconds = 1.0;
  app.add_option("-t,--timeout", seconds, "Seconds to wait for the target's ports to answer (default 1)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.05, 60.0));
  Request r;
  auto* set = app.add_option("--set", r.value, "Store STR unless the target has a config string already")
                  ->type_name("STR");
  auto* force = app.add_option("--force", r.value, "Store STR unconditionally")->type_name("STR");
  auto* test = app.add_option("--test", r.value, "Exit 0 if the config string is exactly STR, else 1")
                   ->type_name("STR");
  auto* prefix = app.add_option("--prefix", r.value, "Exit 0 if the config string starts with STR, else 1")
                     ->type_name("STR");
  bool claim = false, force_claim = false, release_claim = false;
  auto* claim_flag = app.add_flag("--claim", claim, "Claim the target for this host, as aoe-attach --claim does");
  auto* force_claim_flag =
      app.add_flag("--force-claim", force_claim, "Claim the target for this host even if another host holds it");
  auto* release_flag = app.add_flag("--release-claim", release_claim, "Release this host's claim");
  std::vector<CLI::Option*> ops{set, force, test, prefix, claim_flag, force_claim_flag, release_flag};
  for (auto* a : ops)
    for (auto* b : ops)
      if (a != b) a->excludes(b);
  app.add_option("target", r.target, "The target, as eSHELF.SLOT (e.g. e1.2)")->required()->type_name("eS.L");
  if (auto code = tools::parse(app, common, argc, argv)) return *code;

  if (auto code = tools::parse_target_name(app, r.target, r.shelf, r.slot)) return *code;
  r.op = *set       ? Op::set
         : *force   ? Op::force
         : *test    ? Op::test
         : *prefix  ? Op::prefix
         : claim    ? Op::claim
         : force_claim ? Op::force_claim
         : release_claim ? Op::release_claim
                         : Op::read;
  if (r.value.size() > wire::max_config_string)
    return tools::fail(app, tools::exit_usage,
                       fmt::format("a config string holds at most {} bytes", wire::max_config_string));
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
    fmt::print(stderr, "aoe-cfg: {}\n", e.what());
    return tools::exit_failed;
  }
}
