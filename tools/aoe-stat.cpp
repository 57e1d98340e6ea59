// aoe-stat: lists the targets this host has attached, by asking every
// running aoe-attach over its status socket (RUN_DIR/eS.L.sock), like
// aoetools' aoe-stat reads /dev/etherd and sysfs for the kernel driver.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "aoe_version.h"
#include "base/log.h"
#include "initiator/wire.h"
#include "daemon/exit_codes.h"
#include "daemon/status_client.h"
#include "daemon/status_prometheus.h"
#include "daemon/status_schema.h"
#include "daemon/ublk_device.h"
#include "daemon/ublk_takeover.h"
#include "nbd-bridge/kernel_attach.h"
#include "tools/cli.h"
#include "tools/usage.h"
#include "tools/validate.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace tools = aoe::tools;

// Exit codes (man/aoe-stat.8): 1 the named target's daemon did not answer;
// 4 a status socket could not be read (not root); 5 not attached.
using aoe::exit_failed, aoe::exit_not_found, aoe::exit_ok, aoe::exit_permission, aoe::exit_usage;

// Decimal units, three decimals, as aoetools' aoe-stat and aoe-discover print sizes.
std::string format_size(std::uint64_t bytes) {
  if (bytes >= 1'000'000'000) return fmt::format("{:.3f}GB", static_cast<double>(bytes) / 1e9);
  return fmt::format("{:.3f}MB", static_cast<double>(bytes) / 1e6);
}

std::string format_ms(const json& us) {
  return fmt::format("{:.2f}ms", static_cast<double>(us.is_number() ? us.get<long long>() : 0) / 1000.0);
}

std::string text(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::uint64_t number(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

void print_table(const std::vector<json>& docs) {
  // Targets first, each followed by its paths; columns line up across targets.
  std::vector<std::vector<std::string>> targets;
  std::vector<std::vector<std::vector<std::string>>> paths;
  for (const json& d : docs) {
    targets.push_back({text(d, "target"), text(d, "device"), format_size(number(d, "size_bytes")), text(d, "state"),
                       std::to_string(number(d, "payload_bytes"))});
    std::vector<std::vector<std::string>> rows;
    if (auto it = d.find("paths"); it != d.end() && it->is_array())
      for (const json& p : *it)
        rows.push_back({text(p, "interface"), text(p, "mac"), text(p, "state"),
                        fmt::format("window {}/{}", number(p, "window"), number(p, "window_cap")),
                        "srtt " + format_ms(p.value("srtt_us", json())),
                        "rttvar " + format_ms(p.value("rttvar_us", json())),
                        fmt::format("sent {}", number(p, "frames_sent")),
                        fmt::format("retrans {}", number(p, "retransmits")),
                        fmt::format("timeouts {}", number(p, "timeouts")),
                        fmt::format("rejected {}", number(p, "rejected_replies"))});
    paths.push_back(std::move(rows));
  }
  // Widths over every row of a kind, printed target by target.
  std::vector<std::size_t> twidth, pwidth;
  auto widen = [](std::vector<std::size_t>& width, const std::vector<std::string>& row) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  };
  for (const auto& row : targets) widen(twidth, row);
  for (const auto& rows : paths)
    for (const auto& row : rows) widen(pwidth, row);
  auto line = [](const std::vector<std::string>& row, const std::vector<std::size_t>& width, const char* indent) {
    std::string out = indent;
    for (std::size_t c = 0; c < row.size(); ++c)
      out += c + 1 < row.size() ? fmt::format("{:<{}}  ", row[c], width[c]) : row[c];
    fmt::print("{}\n", out);
  };
  for (std::size_t i = 0; i < targets.size(); ++i) {
    line(targets[i], twidth, "");
    for (const auto& row : paths[i]) line(row, pwidth, "    ");
  }
}

// Shelf and slot order, as aoe-discover lists targets.
std::tuple<int, int, std::string> order_key(const json& d) {
  std::string name = text(d, "target");
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  if (!aoe::wire::parse_target(name, shelf, slot)) return {1 << 17, 0, name};
  return {shelf, slot, name};
}

bool is_stale(const std::error_code& ec) {
  return ec == std::errc::connection_refused || ec == std::errc::no_such_file_or_directory;
}

// /dev/nbdN of a target whose aoe-attach is gone: the kernel holds its I/O
// for the next aoe-attach (--reconnect-timeout), then fails it; aoe-detach
// detaches it.  State "orphaned", pid 0, no paths.
std::vector<json> orphaned_devices(const std::vector<json>& served) {
  std::vector<json> docs;
  for (const auto& b : aoe::nbd::backends()) {
    if (!b.id.starts_with("aoe-nbd:")) continue;
    const std::string target = b.id.substr(8);
    const bool has_daemon = std::any_of(served.begin(), served.end(),
                                        [&](const json& d) { return d.value("target", std::string()) == target; });
    if (has_daemon) continue;
    std::uint64_t sectors = 0;
    std::ifstream(aoe::nbd::sysfs_dir_of(b.index) / "size") >> sectors;
    docs.push_back({{"target", target},
                    {"device", aoe::nbd::device_path_of(b.index)},
                    {"size_bytes", sectors * 512},
                    {"state", "orphaned"},
                    {"pid", 0},
                    {"paths", json::array()}});
  }
  // /dev/ublkbN marked with a target (daemon/ublk_takeover.h), asked of the
  // ublk driver where it is loaded and we may (root): the same, held until
  // a successor or aoe-detach comes.
  std::error_code ec;
  auto control = ::access(aoe::daemon::ublk_control_path, R_OK | W_OK) == 0
                     ? aoe::daemon::UblkControl::open(ec)
                     : nullptr;
  for (const std::uint32_t id : control ? aoe::daemon::UblkControl::devices() : std::vector<std::uint32_t>{}) {
    aoe::ublk::DevInfo info;
    if (control->info(id, info)) continue;
    const auto marked = aoe::daemon::target_of_ublk_mark(info.ublksrv_flags);
    if (!marked) continue;
    const std::string target = aoe::wire::format_target(marked->shelf, marked->slot);
    const bool has_daemon = std::any_of(served.begin(), served.end(),
                                        [&](const json& d) { return d.value("target", std::string()) == target; });
    if (has_daemon) continue;
    std::uint64_t sectors = 0;
    std::ifstream("/sys/block/ublkb" + std::to_string(id) + "/size") >> sectors;
    docs.push_back({{"target", target},
                    {"device", aoe::daemon::ublk_block_path(id)},
                    {"size_bytes", sectors * 512},
                    {"state", "orphaned"},
                    {"pid", 0},
                    {"paths", json::array()}});
  }
  return docs;
}

// "nbd0", "/dev/nbd0" and a /dev/etherd link all name the same device;
// a socket path may be relative.
std::string canonical_device(const std::string& name) {
  fs::path p = name.rfind("nbd", 0) == 0 || name.rfind("ublkb", 0) == 0 ? fs::path("/dev") / name : fs::path(name);
  std::error_code ec;
  fs::path real = fs::canonical(p, ec);
  return ec ? p.lexically_normal().string() : real.string();
}

int run(int argc, char** argv) {
  tools::cli::App app{"List the AoE targets attached by aoe-attach on this host, with live per-path counters.", "aoe-stat"};
  app.set_version_flag("--version", std::string("aoe-stat ") + AOE_NBD_VERSION);
  bool json_output = false;
  app.add_flag("--json", json_output, "Print a JSON array of the daemons' status documents instead of a table");
  bool prometheus = false;
  app.add_flag("--prometheus", prometheus,
               "Print the Prometheus text exposition format (for node_exporter's textfile collector)")
      ->excludes("--json");
  double timeout = 2.0;
  app.add_option("-t,--timeout", timeout, "How long to wait for each aoe-attach to answer")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(tools::validate::Number(0.1, 60));
  tools::cli::Verbosity verbosity;  // -v also reports stale sockets left by daemons that died
  verbosity.add_to(app);
  std::string wanted;
  app.add_option("target", wanted, "Show only this target (eSHELF.SLOT), device (/dev/nbdN) or NBD socket")
      ->type_name("eS.L|/dev/nbdN");
  if (auto code = app.parse(argc, argv)) return *code;
  verbosity.apply();

  auto fail = [](int code, const std::string& message) { return tools::fail("aoe-stat", code, message); };
  if (tools::validate::meant_as_target(wanted))
    if (auto why = tools::validate::target_name(wanted)) return fail(exit_usage, *why);
  const auto wait = std::chrono::milliseconds(static_cast<long>(timeout * 1000));
  const fs::path dir = aoe::daemon::run_dir();

  const auto target = aoe::wire::canonical_target(wanted);
  const bool by_target = target.has_value();
  if (by_target) wanted = *target;  // "e01.2" is e1.2's socket too
  // Anything else names a device, or the NBD socket of aoe-attach --socket.
  const bool by_device = !wanted.empty() && !by_target;

  std::vector<fs::path> sockets;
  if (by_target) {
    sockets.push_back(aoe::daemon::status_socket_path(wanted));
  } else {
    std::error_code ec;
    sockets = aoe::daemon::status_sockets(ec);
    if (ec)
      return fail(ec == std::errc::permission_denied ? exit_permission : exit_failed,
                  fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  }

  std::vector<json> docs;
  bool denied = false, broken = false;
  for (const fs::path& s : sockets) {
    std::error_code ec;
    auto doc = aoe::daemon::query_status(s, wait, ec);
    if (doc) {
      docs.push_back(std::move(*doc));
    } else if (is_stale(ec)) {
      if (!by_target) aoe::log::info("{}: stale socket, nothing listens", s.string());
    } else {
      denied |= ec == std::errc::permission_denied;
      broken = true;
      aoe::log::warning("{}: {}", s.string(), ec.message());
    }
  }

  for (auto& d : orphaned_devices(docs))
    if (!by_target || d.value("target", std::string()) == wanted) docs.push_back(std::move(d));

  if (by_target) {
    if (docs.empty())
      return fail(denied   ? exit_permission
                  : broken ? exit_failed
                           : exit_not_found,
                  broken ? fmt::format("{}: its aoe-attach did not answer on {}", wanted, sockets[0].string())
                         : fmt::format("{} is not attached (no aoe-attach answers on {})", wanted,
                                       sockets[0].string()));
  } else if (by_device) {
    const std::string device = canonical_device(wanted);
    std::erase_if(docs, [&](const json& d) {
      std::string got = text(d, "device");
      return got != wanted && canonical_device(got) != device;
    });
    if (docs.empty())
      return fail(denied ? exit_permission : exit_not_found,
                  fmt::format("{}: no aoe-attach serves this device or socket", wanted));
  }

  std::sort(docs.begin(), docs.end(), [](const json& a, const json& b) { return order_key(a) < order_key(b); });
  if (prometheus)
    fmt::print("{}", aoe::daemon::prometheus_text(docs));
  else if (json_output)
    fmt::print("{}\n", json(docs).dump(2));
  else
    print_table(docs);
  return denied ? exit_permission : exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return tools::fail("aoe-stat", exit_failed, e.what());
  }
}
