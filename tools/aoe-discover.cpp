// aoe-discover: lists the AoE targets reachable from this host, like the
// kernel driver's aoe-discover + aoe-stat, without the kernel driver.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "discovery/abft.h"
#include "discovery/discover.h"
#include "base/log.h"
#include "tools/boot_target.h"
#include "tools/common.h"
#include "tools/usage.h"
#include "tools/validate.h"

namespace {

using aoe::TargetInfo;
namespace discovery = aoe::discovery;
namespace tools = aoe::tools;

// Decimal units, three decimals, as aoe-stat prints sizes.
std::string format_size(std::uint64_t bytes) {
  if (bytes >= 1'000'000'000) return fmt::format("{:.3f}GB", static_cast<double>(bytes) / 1e9);
  return fmt::format("{:.3f}MB", static_cast<double>(bytes) / 1e6);
}

std::string interface_list(const TargetInfo& t) {
  std::vector<std::string> names;
  for (const auto& p : t.paths)
    if (std::find(names.begin(), names.end(), p.link->info().name) == names.end())
      names.push_back(p.link->info().name);
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

unsigned payload_bytes(const TargetInfo& t) { return t.payload_sectors() * 512; }

// Queue depth and transfer size a target offers on its weakest port.
template <typename Field>
auto weakest(const TargetInfo& t, Field field) {
  auto it = std::min_element(t.paths.begin(), t.paths.end(),
                             [&](const auto& a, const auto& b) { return a.*field < b.*field; });
  return (*it).*field;
}

void print_table(const std::vector<TargetInfo>& targets) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : targets)
    rows.push_back({t.name(), format_size(t.identity.size_bytes()), interface_list(t),
                    std::to_string(payload_bytes(t)), "up"});
  std::vector<std::size_t> width(5, 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c)
      line += c + 1 < row.size() ? fmt::format("{:<{}}  ", row[c], width[c]) : row[c];
    fmt::print("{}\n", line);
  }
}

nlohmann::json to_json(const TargetInfo& t) {
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& p : t.paths)
    paths.push_back({{"interface", p.link->info().name},
                     {"mac", aoe::wire::format_mac(p.target_mac)},
                     {"mtu", p.link->info().mtu}});
  const aoe::PathInfo& first = t.paths.front();
  return {{"target", t.name()},
          {"shelf", t.shelf},
          {"slot", t.slot},
          {"size_bytes", t.identity.size_bytes()},
          {"sectors", t.identity.sectors},
          {"lba48", t.identity.lba48},
          {"bufcnt", weakest(t, &aoe::PathInfo::buffer_count)},
          {"max_sectors", weakest(t, &aoe::PathInfo::max_sectors)},
          {"payload_bytes", payload_bytes(t)},
          {"firmware", first.firmware_version},
          {"aoe_version", first.aoe_version},
          {"config_string", first.config_string},
          {"model", t.identity.model},
          {"serial", t.identity.serial},
          {"paths", paths}};
}

int run(int argc, char** argv) {
  tools::cli::App app{"List the AoE targets reachable over the local Ethernet interfaces.", "aoe-discover"};
  tools::CommonOptions common;
  tools::add_common_options(app, common);
  double seconds = 1.0;
  app.add_option("-t,--timeout", seconds, "Seconds to wait for answers (default 1)")
      ->type_name("SECONDS")
      ->check(tools::validate::Number(0, 3600));
  bool json = false;
  app.add_flag("--json", json, "Print a JSON array instead of a table");
  std::vector<std::string> wanted;
  app.add_option("targets", wanted, "Show only these targets (eSHELF.SLOT)")
      ->type_name("eS.L")
      ->check(tools::validate::TargetName());
  bool abft = false;
  std::string abft_table = discovery::abft_sysfs_path;
  app.add_flag("--abft", abft,
               "Print the target the firmware booted from, as its ACPI aBFT says, and the local interface it "
               "booted over: \"eS.L MAC INTERFACE\"; sends nothing")
      ->excludes("--json");
  app.add_option("--abft-table", abft_table, "Read the aBFT from this file (implies --abft)")
      ->type_name("PATH")
      ->capture_default_str();
  if (auto code = tools::parse(app, common, argc, argv)) return *code;
  if (abft || app.count("--abft-table")) return tools::print_boot_target(abft_table);

  discovery::DiscoverOptions options;
  options.window = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  for (const auto& name : wanted) {
    discovery::TargetId id;
    aoe::wire::parse_target(name, id.shelf, id.slot);
    options.only.push_back(id);
  }

  boost::asio::io_context io;
  tools::Links links;
  if (auto code = tools::open_links(io, app, common, links)) return *code;
  discovery::DiscoverResult result = discovery::discover(io, links.links, options);

  for (const auto& c : result.conflicts) aoe::log::warning("{}", discovery::describe(c));
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& t : result.targets) out.push_back(to_json(t));
    fmt::print("{}\n", out.dump(2));
  } else {
    print_table(result.targets);
  }
  return aoe::exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return tools::fail("aoe-discover", aoe::exit_failed, e.what());
  }
}
