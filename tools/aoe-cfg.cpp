// aoe-cfg: read, set or test a target's config string (Query Config, docs/aoe-protocol.md §4),
// like Coraid's aoecfg, without the kernel driver.
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
#include "daemon/claim.h"
#include "tools/admin_tool.h"
#include "tools/usage.h"

namespace {

namespace wire = aoe::wire;
using aoe::discovery::Control;
using aoe::discovery::TargetPort;
using aoe::discovery::Task;

enum class Op { read, set, force, test, prefix, claim, force_claim, release_claim };

struct Command : aoe::tools::AdminTarget {
  Op op = Op::read;
  std::string value;
};

void error(const std::string& message) { aoe::tools::fail("aoe-cfg", 0, message); }

// Set if empty (CCmd 3), port by port: vblade keeps a string per port.
Task<int> set_if_empty(Control& control, const Command& r, const std::vector<TargetPort>& ports) {
  int status = aoe::exit_ok;
  for (const TargetPort& port : ports) {
    auto answer = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot,
                                                wire::ConfigCommand::set_if_empty, r.value);
    if (answer.error == aoe::errc::aoe_config_string_present) {
      auto now = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot);
      if (!now.error && now.value.config_string == r.value) continue;  // set meanwhile to the same
      error(fmt::format("{}: port {} already has a config string (AoE error 4): {}", r.target, port.name(),
                        now.error ? "(cannot read it: " + now.error.message() + ")" : now.value.config_string));
      status = aoe::exit_failed;
    } else if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), aoe::discovery::describe_error(answer.error, "Query Config")));
      status = aoe::exit_failed;
    }
  }
  co_return status;
}

Task<int> force_set(Control& control, const Command& r, const std::vector<TargetPort>& ports) {
  int status = aoe::exit_ok;
  for (const TargetPort& port : ports) {
    auto answer = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot,
                                                wire::ConfigCommand::force_set, r.value);
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), aoe::discovery::describe_error(answer.error, "Query Config")));
      status = aoe::exit_failed;
    }
  }
  co_return status;
}

// The target decides (CCmd 1/2): it answers a match and stays silent
// otherwise (docs/aoe-protocol.md §4.2).  A match means every port matches.
Task<int> test(Control& control, const Command& r, const std::vector<TargetPort>& ports) {
  auto ccmd = r.op == Op::test ? wire::ConfigCommand::test_exact : wire::ConfigCommand::test_prefix;
  for (const TargetPort& port : ports) {
    auto answer = co_await control.query_config(*port.link, port.mac, r.shelf, r.slot, ccmd, r.value);
    if (answer.error == aoe::errc::timed_out) {
      aoe::log::info("{}: port {} does not match", r.target, port.name());
      co_return aoe::exit_failed;
    }
    if (answer.error) {
      error(fmt::format("{}: port {}: {}", r.target, port.name(), aoe::discovery::describe_error(answer.error, "Query Config")));
      co_return aoe::exit_failed;
    }
  }
  co_return aoe::exit_ok;
}

Task<int> run_request(Control& control, Command r) {
  std::vector<TargetPort> ports = co_await aoe::discovery::find_ports(control, r.links, r.shelf, r.slot, r.window);
  if (ports.empty()) {
    error(r.no_answer());
    co_return aoe::exit_not_found;
  }
  switch (r.op) {
    case Op::read: {
      for (const TargetPort& port : ports)
        if (port.config_string != ports.front().config_string)
          aoe::log::warning("{}: port {} has config string \"{}\", port {} \"{}\"", r.target, port.name(),
                            port.config_string, ports.front().name(), ports.front().config_string);
      fmt::print("{}\n", ports.front().config_string);
      co_return aoe::exit_ok;
    }
    case Op::set: co_return co_await set_if_empty(control, r, ports);
    case Op::force: co_return co_await force_set(control, r, ports);
    case Op::test:
    case Op::prefix: co_return co_await test(control, r, ports);
    case Op::claim:
    case Op::force_claim:
    case Op::release_claim: {
      // No co_await inside ?: (GCC 12 destroys the temporary twice).
      aoe::daemon::ClaimResult result;
      if (r.op == Op::release_claim) {
        result = co_await aoe::daemon::async_release(control, ports, r.shelf, r.slot, aoe::daemon::host_identity(r.links));
      } else {
        auto mode = r.op == Op::claim ? aoe::daemon::ClaimMode::normal : aoe::daemon::ClaimMode::force;
        result = co_await aoe::daemon::async_claim(control, ports, r.shelf, r.slot, aoe::daemon::host_identity(r.links), mode);
      }
      if (result.ok()) co_return aoe::exit_ok;
      error(result.message);
      co_return aoe::daemon::claim_exit_code(result);
    }
  }
  co_return aoe::exit_failed;
}

int run(int argc, char** argv) {
  Command r;
  aoe::tools::AdminTool tool("Read, set or test the config string of an AoE target.", "aoe-cfg", r);
  aoe::tools::cli::App& app = tool.app();
  tool.add_options();
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
  std::vector<aoe::tools::cli::Option*> ops{set, force, test, prefix, claim_flag, force_claim_flag, release_flag};
  for (auto* a : ops)
    for (auto* b : ops)
      if (a != b) a->excludes(b);
  if (auto code = tool.parse(argc, argv)) return *code;
  r.op = *set       ? Op::set
         : *force   ? Op::force
         : *test    ? Op::test
         : *prefix  ? Op::prefix
         : claim    ? Op::claim
         : force_claim ? Op::force_claim
         : release_claim ? Op::release_claim
                         : Op::read;
  if (r.value.size() > wire::max_config_string)
    return tool.fail(aoe::exit_usage,
                       fmt::format("a config string holds at most {} bytes", wire::max_config_string));
  return tool.run([&](Control& control) { return run_request(control, r); });
}

}  // namespace

int main(int argc, char** argv) {
  return aoe::tools::guarded_main("aoe-cfg", [&] { return run(argc, argv); });
}
