#include "daemon/status_prometheus.h"

#include <optional>

#include <fmt/core.h>

namespace aoe::daemon {

namespace {

using nlohmann::json;

// A label value with \, " and newline escaped, as the format requires.
std::string escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string text(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// None for a value the document lacks (an orphaned device has no engine
// to count): its sample is left out, where a 0 would read as a measurement.
std::optional<double> number(const json& doc, const char* key, double scale = 1) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return std::nullopt;
  return it->get<double>() * scale;
}

// One metric family: its header, then a sample per (labels, value).
struct Family {
  const char* name;
  const char* type;
  const char* help;
  std::string samples;
  void add(const std::string& labels, std::optional<double> value) {
    if (value) samples += fmt::format("{}{{{}}} {}\n", name, labels, *value);
  }
  std::string str() const { return fmt::format("# HELP {} {}\n# TYPE {} {}\n{}", name, help, name, type, samples); }
};

constexpr const char* states[] = {"up", "degraded", "down", "orphaned"};

// A status key, its family, and the scale to base units.
struct Metric {
  const char* key;
  Family family;
  double scale;
};

}  // namespace

std::string prometheus_text(const std::vector<json>& documents) {
  Family state{"aoe_target_state", "gauge", "1 for the target's state (up, degraded, down, orphaned), 0 for the others", {}};
  std::vector<Metric> targets = {
      {"size_bytes", {"aoe_target_size_bytes", "gauge", "Capacity of the target", {}}, 1},
      {"in_flight", {"aoe_target_in_flight_requests", "gauge", "Requests the engine holds for the target", {}}, 1},
      {"fences", {"aoe_target_fences", "gauge", "Copies of acknowledged writes that may still execute on the target", {}}, 1},
      {"kept_bytes", {"aoe_target_kept_bytes", "gauge", "Newer data kept over sectors such copies may overwrite", {}}, 1},
      {"fenced_writes", {"aoe_target_fenced_writes_total", "counter", "Writes held back by a repair or the kept-data bound", {}}, 1},
      {"repairs", {"aoe_target_repairs_total", "counter", "Rewrites of newer data after a late copy may have executed", {}}, 1},
  };
  Family path_up{"aoe_path_up", "gauge", "1 if the path (local interface, target port) carries I/O", {}};
  std::vector<Metric> paths = {
      {"payload_bytes", {"aoe_path_payload_bytes", "gauge", "Data bytes one frame carries on the path", {}}, 1},
      {"window", {"aoe_path_window_frames", "gauge", "Frames the path may have outstanding now", {}}, 1},
      {"outstanding", {"aoe_path_outstanding_frames", "gauge", "Frames sent on the path and not answered", {}}, 1},
      {"srtt_us", {"aoe_path_srtt_seconds", "gauge", "Smoothed round-trip time of the path", {}}, 1e-6},
      {"rto_us", {"aoe_path_rto_seconds", "gauge", "Retransmission timeout of the path", {}}, 1e-6},
      {"frames_sent", {"aoe_path_frames_sent_total", "counter", "Frames sent on the path", {}}, 1},
      {"retransmits", {"aoe_path_retransmits_total", "counter", "Frames sent again on the path", {}}, 1},
      {"timeouts", {"aoe_path_timeouts_total", "counter", "Frames the path did not answer in time", {}}, 1},
      {"late_replies", {"aoe_path_late_replies_total", "counter", "Replies after their frame was resent", {}}, 1},
      {"duplicate_replies", {"aoe_path_duplicate_replies_total", "counter", "Replies to an answered frame", {}}, 1},
      {"rejected_replies", {"aoe_path_rejected_replies_total", "counter", "Replies refused as malformed or foreign", {}}, 1},
      {"send_drops", {"aoe_path_send_drops_total", "counter", "Frames dropped by a full socket send queue", {}}, 1},
      {"receive_drops", {"aoe_path_receive_drops_total", "counter", "Frames the interface's socket had no room for (shared by its paths)", {}}, 1},
      {"failures", {"aoe_path_failures_total", "counter", "Times the path was declared failed", {}}, 1},
  };
  for (const json& d : documents) {
    const std::string target = escape(text(d, "target"));
    const std::string labels = fmt::format("target=\"{}\",device=\"{}\"", target, escape(text(d, "device")));
    const std::string now = text(d, "state");
    for (const char* s : states) state.add(fmt::format("{},state=\"{}\"", labels, s), now == s ? 1 : 0);
    for (auto& m : targets) m.family.add(labels, number(d, m.key, m.scale));
    auto it = d.find("paths");
    if (it == d.end() || !it->is_array()) continue;
    for (const json& p : *it) {
      const std::string path_labels = fmt::format("target=\"{}\",interface=\"{}\",mac=\"{}\"", target,
                                                  escape(text(p, "interface")), escape(text(p, "mac")));
      path_up.add(path_labels, text(p, "state") == "up" ? 1 : 0);
      for (auto& m : paths) m.family.add(path_labels, number(p, m.key, m.scale));
    }
  }
  std::string out = state.str();
  for (const auto& m : targets) out += m.family.str();
  out += path_up.str();
  for (const auto& m : paths) out += m.family.str();
  return out;
}

}  // namespace aoe::daemon
