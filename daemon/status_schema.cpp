#include "daemon/status_schema.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "initiator/engine.h"
#include "initiator/wire.h"

namespace aoe::daemon {

namespace fs = std::filesystem;

fs::path run_dir() {
  const char* env = std::getenv("AOE_RUN_DIR");
  return env && *env ? fs::path(env) : fs::path("/run/aoe");
}

fs::path status_socket_path(const std::string& target) { return run_dir() / (target + ".sock"); }

std::vector<fs::path> status_sockets(std::error_code& ec) {
  std::vector<fs::path> sockets;
  for (fs::directory_iterator it(run_dir(), ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".sock") sockets.push_back(it->path());
  if (ec == std::errc::no_such_file_or_directory) ec.clear();
  return sockets;
}

namespace {

long long micros(Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

const char* path_state(const PathStatus& p) {
  if (!p.link_up) return "link-down";
  return p.failed ? "failed" : "up";
}

}  // namespace

nlohmann::json status_json(const Engine& engine, const std::string& device, long pid) {
  nlohmann::json paths = nlohmann::json::array();
  std::size_t working = 0, total = 0;
  for (const PathStatus& p : engine.path_status()) {
    const char* state = path_state(p);
    ++total;
    if (std::strcmp(state, "up") == 0) ++working;
    paths.push_back({{"interface", p.interface},
                     {"mac", wire::format_mac(p.target_mac)},
                     {"state", state},
                     {"payload_bytes", p.payload_bytes},
                     {"window", p.window},
                     {"window_cap", p.window_cap},
                     {"outstanding", p.outstanding},
                     {"srtt_us", micros(p.srtt)},
                     {"rttvar_us", micros(p.rttvar)},
                     {"rto_us", micros(p.rto)},
                     {"frames_sent", p.frames_sent},
                     {"retransmits", p.retransmits},
                     {"timeouts", p.timeouts},
                     {"late_replies", p.late_replies},
                     {"duplicate_replies", p.duplicate_replies},
                     {"rejected_replies", p.rejected_replies},
                     {"send_drops", p.send_drops},
                     {"receive_drops", p.receive_drops},
                     {"failures", p.failures}});
  }
  const char* state = engine.is_down() || working == 0 ? "down" : working < total ? "degraded" : "up";
  const TargetInfo& t = engine.target();
  return {{"target", t.name()},
          {"device", device},
          {"pid", pid},
          {"state", state},
          {"size_bytes", engine.size_bytes()},
          {"payload_bytes", engine.payload_sectors() * 512u},
          {"model", t.identity.model},
          {"serial", t.identity.serial},
          {"in_flight", engine.in_flight_requests()},
          // Late copies of writes (initiator/write_fences.h, docs/write-ordering.md).
          {"fences", engine.fences()},
          {"kept_bytes", engine.kept_sectors() * 512u},
          {"fenced_writes", engine.fenced_writes()},
          {"repairs", engine.repairs()},
          {"paths", std::move(paths)}};
}

nlohmann::json status_json(const Engine& engine, const std::string& device) {
  return status_json(engine, device, static_cast<long>(::getpid()));
}

}  // namespace aoe::daemon
