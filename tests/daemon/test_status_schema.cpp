// The status document (status_json) over an Engine on the fake wire:
// stable keys, counters that follow the traffic, the target's state.
#include "daemon/status_schema.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> target_keys = {"target", "device", "pid", "state", "size_bytes", "payload_bytes",
                                               "model", "serial", "in_flight", "fences", "kept_bytes",
                                               "fenced_writes", "repairs", "paths"};
const std::vector<std::string> path_keys = {
    "interface",  "mac",         "state",       "payload_bytes", "window",      "window_cap",
    "outstanding", "srtt_us",    "rttvar_us",   "rto_us",        "frames_sent", "retransmits",
    "timeouts",   "late_replies", "duplicate_replies", "rejected_replies", "send_drops", "receive_drops", "failures"};

}  // namespace

TEST_CASE("test-status-document-stable-keys", "[status]") {
  EngineLab lab({}, calm_options(), 9000, 2);
  auto doc = daemon::status_json(*lab.engine, "/dev/nbd7", 4242);
  for (const auto& k : target_keys) CHECK(doc.contains(k));
  CHECK(doc.size() == target_keys.size());
  CHECK(doc["target"] == "e1.2");
  CHECK(doc["device"] == "/dev/nbd7");
  CHECK(doc["pid"] == 4242);
  CHECK(doc["state"] == "up");
  CHECK(doc["size_bytes"] == 4096u * 512);
  CHECK(doc["payload_bytes"] == 8704);
  CHECK(doc["in_flight"] == 0);
  for (const char* k : {"fences", "kept_bytes", "fenced_writes", "repairs"}) CHECK(doc[k] == 0);
  REQUIRE(doc["paths"].size() == 2);
  for (const auto& p : doc["paths"]) {
    for (const auto& k : path_keys) CHECK(p.contains(k));
    CHECK(p.size() == path_keys.size());
    CHECK(p["state"] == "up");
    CHECK(p["payload_bytes"] == 8704);
  }
  CHECK(doc["paths"][0]["interface"] == "eth0");
  CHECK(doc["paths"][0]["mac"] == "02:00:00:00:00:10");
  CHECK(doc["paths"][1]["interface"] == "eth1");
  CHECK(doc["paths"][1]["mac"] == "02:00:00:00:00:11");
  // This process's pid by default.
  CHECK(daemon::status_json(*lab.engine, "x")["pid"] == static_cast<long>(::getpid()));
}

TEST_CASE("test-status-counters-follow-traffic", "[status]") {
  EngineLab lab;
  lab.wire().faults_from(1).latency = std::chrono::microseconds(100);  // simulated time: an RTT to measure
  auto before = daemon::status_json(*lab.engine, "sock")["paths"][0];
  CHECK(before["frames_sent"] == 0);
  REQUIRE_FALSE(lab.write(0, pattern(256 * 1024, 5)));
  auto after = daemon::status_json(*lab.engine, "sock")["paths"][0];
  CHECK(after["frames_sent"].get<std::uint64_t>() >= 256);  // 1024-byte frames at MTU 1500
  CHECK(after["srtt_us"].get<long long>() > 0);
  CHECK(after["rto_us"].get<long long>() >= 250'000);       // calm_options' floor
  CHECK(after["retransmits"] == 0);
  CHECK(after["outstanding"] == 0);
}

TEST_CASE("test-status-state-degraded-then-down", "[status]") {
  auto o = fast_options();
  o.deadline = 300ms;
  EngineLab lab({}, o, 1500, 2);
  // One NIC down while the other works: degraded, that path link-down.
  lab.wire(0).end(0).up = false;
  lab.engine->set_link_state(lab.wire(0).end(0), false);
  auto doc = daemon::status_json(*lab.engine, "sock");
  CHECK(doc["state"] == "degraded");
  CHECK(doc["paths"][0]["state"] == "link-down");
  CHECK(doc["paths"][1]["state"] == "up");
  // The other path silently dead as well: the deadline marks the target down.
  lab.wire(1).faults_from(0).drop_if = [](const FrameBytes&) { return true; };
  std::vector<std::byte> buf(4096);
  CHECK(lab.read(0, buf));
  REQUIRE(lab.engine->is_down());
  CHECK(daemon::status_json(*lab.engine, "sock")["state"] == "down");
}

TEST_CASE("test-status-failed-path-state", "[status]") {
  auto o = fast_options();
  o.probe_interval = 10s;  // keep it failed while we look
  EngineLab lab({}, o, 1500, 2);
  lab.wire(1).faults_from(0).drop_if = [](const FrameBytes&) { return true; };
  // The dead path gets frames until its loss episodes fail it.
  for (int i = 0; i < 100 && !lab.engine->path_status()[1].failed; ++i)
    REQUIRE_FALSE(lab.write(0, pattern(512 * 1024, 9)));
  auto doc = daemon::status_json(*lab.engine, "sock");
  REQUIRE(doc["paths"][1]["state"] == "failed");
  CHECK(doc["paths"][1]["timeouts"].get<std::uint64_t>() > 0);
  CHECK(doc["paths"][1]["failures"] == 1);
  CHECK(doc["state"] == "degraded");
}

TEST_CASE("test-status-write-fences", "[status]") {
  // The first copy of the first write frame is lost on the way: the engine
  // resends it, and cannot know the lost one will never execute.
  EngineLab lab;
  bool lost = false;
  lab.wire().faults_from(0).drop_if = [&](const FrameBytes& f) {
    wire::Frame d;
    if (lost || wire::decode(f, d) || d.header.command != wire::Command::ata ||
        !(std::get<wire::AtaArg>(d.arg).aflags & wire::aflags::write))
      return false;
    return lost = true;
  };
  REQUIRE_FALSE(lab.write(0, pattern(512, 1)));
  REQUIRE(lost);
  // A newer write of the same sector is kept over the fenced copy.
  REQUIRE_FALSE(lab.write(0, pattern(512, 2)));
  const auto doc = daemon::status_json(*lab.engine, "sock");
  CHECK(doc["fences"] == lab.engine->fences());
  CHECK(doc["fences"].get<std::size_t>() >= 1);
  CHECK(doc["kept_bytes"] == lab.engine->kept_sectors() * 512);
  CHECK(doc["kept_bytes"].get<std::size_t>() >= 512);
  CHECK(doc["fenced_writes"] == lab.engine->fenced_writes());
  CHECK(doc["repairs"] == lab.engine->repairs());
}
