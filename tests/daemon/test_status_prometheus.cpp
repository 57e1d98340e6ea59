// aoe-stat --prometheus (daemon/status_prometheus.h): status documents in,
// the text exposition format out.
#include "daemon/status_prometheus.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using nlohmann::json;

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("test-status-prometheus-samples", "[status]") {
  std::vector<json> docs = {
      {{"target", "e1.2"},
       {"device", "/dev/nbd0"},
       {"state", "degraded"},
       {"size_bytes", 268435456},
       {"in_flight", 3},
       {"fences", 2},
       {"kept_bytes", 8192},
       {"fenced_writes", 1},
       {"repairs", 4},
       {"paths",
        json::array({{{"interface", "eth0"},
                      {"mac", "02:00:00:00:00:01"},
                      {"state", "up"},
                      {"srtt_us", 1500},
                      {"frames_sent", 42},
                      {"retransmits", 2},
                      {"receive_drops", 7}},
                     {{"interface", "eth1"}, {"mac", "02:00:00:00:00:02"}, {"state", "failed"}}})}},
      {{"target", "e1.3"},
       {"device", "/run/x\"y.sock"},
       {"state", "orphaned"},
       {"size_bytes", 1048576},
       {"paths", json::array()}}};
  const std::string text = aoe::daemon::prometheus_text(docs);
  INFO(text);
  CHECK(has_line(text, "# TYPE aoe_target_state gauge"));
  CHECK(has_line(text, R"(aoe_target_state{target="e1.2",device="/dev/nbd0",state="degraded"} 1)"));
  CHECK(has_line(text, R"(aoe_target_state{target="e1.2",device="/dev/nbd0",state="up"} 0)"));
  CHECK(has_line(text, R"(aoe_target_size_bytes{target="e1.2",device="/dev/nbd0"} 268435456)"));
  CHECK(has_line(text, R"(aoe_target_in_flight_requests{target="e1.2",device="/dev/nbd0"} 3)"));
  CHECK(has_line(text, R"(aoe_target_fences{target="e1.2",device="/dev/nbd0"} 2)"));
  CHECK(has_line(text, R"(aoe_target_kept_bytes{target="e1.2",device="/dev/nbd0"} 8192)"));
  CHECK(has_line(text, "# TYPE aoe_target_fenced_writes_total counter"));
  CHECK(has_line(text, R"(aoe_target_fenced_writes_total{target="e1.2",device="/dev/nbd0"} 1)"));
  CHECK(has_line(text, R"(aoe_target_repairs_total{target="e1.2",device="/dev/nbd0"} 4)"));
  CHECK(has_line(text, R"(aoe_path_up{target="e1.2",interface="eth0",mac="02:00:00:00:00:01"} 1)"));
  CHECK(has_line(text, R"(aoe_path_up{target="e1.2",interface="eth1",mac="02:00:00:00:00:02"} 0)"));
  CHECK(has_line(text, "# TYPE aoe_path_frames_sent_total counter"));
  CHECK(has_line(text, R"(aoe_path_frames_sent_total{target="e1.2",interface="eth0",mac="02:00:00:00:00:01"} 42)"));
  CHECK(has_line(text, R"(aoe_path_receive_drops_total{target="e1.2",interface="eth0",mac="02:00:00:00:00:01"} 7)"));
  CHECK(has_line(text, R"(aoe_path_srtt_seconds{target="e1.2",interface="eth0",mac="02:00:00:00:00:01"} 0.0015)"));
  // What a document lacks is left out, not reported as 0: an orphaned
  // device has its size (from sysfs) but no engine to count in flight;
  // a path's document from another version may lack a counter.
  CHECK(has_line(text, R"(aoe_target_size_bytes{target="e1.3",device="/run/x\"y.sock"} 1048576)"));
  CHECK(text.find(R"(aoe_target_in_flight_requests{target="e1.3")") == std::string::npos);
  CHECK(text.find(R"(aoe_path_frames_sent_total{target="e1.2",interface="eth1")") == std::string::npos);
  // A quote in a label value is escaped.
  CHECK(has_line(text, R"(aoe_target_state{target="e1.3",device="/run/x\"y.sock",state="orphaned"} 1)"));
  // Every family has its HELP and TYPE once, and every sample line is name{labels} value.
  std::size_t types = 0;
  for (std::size_t at = 0; (at = text.find("# TYPE ", at)) != std::string::npos; ++at) ++types;
  CHECK(types == 22);
}

TEST_CASE("test-status-prometheus-no-target", "[status]") {
  const std::string text = aoe::daemon::prometheus_text({});
  CHECK(has_line(text, "# TYPE aoe_target_state gauge"));
  CHECK(text.find("{") == std::string::npos);
}
