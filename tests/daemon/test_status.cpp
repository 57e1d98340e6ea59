// The status document (status_json) over an Engine on the fake wire, and
// the StatusEndpoint socket: one document per connection, 0600, stale
// sockets replaced, a live one refused, removed on destruction.
#include "daemon/status_endpoint.h"
#include "daemon/status_client.h"
#include "daemon/status_schema.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <boost/asio/local/stream_protocol.hpp>
#include <catch2/catch.hpp>

#include "tests/initiator/engine_lab.h"
#include "tests/support/temp_dir.h"

using namespace aoe;
using namespace aoe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using aoe::daemon::StatusEndpoint;

namespace {

// Queries `socket` from another thread while `io` runs here (the endpoint
// answers on the io thread, the client blocks).
std::optional<nlohmann::json> query_while_running(boost::asio::io_context& io, const fs::path& socket,
                                                  std::error_code& ec) {
  auto result = std::async(std::launch::async, [&] { return daemon::query_status(socket, 3s, ec); });
  while (result.wait_for(0s) != std::future_status::ready) {
    io.run_for(1ms);
    io.restart();
  }
  return result.get();
}

const std::vector<std::string> target_keys = {"target", "device", "pid", "state", "size_bytes", "payload_bytes",
                                               "model", "serial", "in_flight", "paths"};
const std::vector<std::string> path_keys = {
    "interface",  "mac",         "state",       "payload_bytes", "window",      "window_cap",
    "outstanding", "srtt_us",    "rttvar_us",   "rto_us",        "frames_sent", "retransmits",
    "timeouts",   "late_replies", "duplicate_replies", "rejected_replies", "send_drops"};

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
  REQUIRE_FALSE(lab.write(0, pattern(512 * 1024, 9)));
  auto doc = daemon::status_json(*lab.engine, "sock");
  REQUIRE(doc["paths"][1]["state"] == "failed");
  CHECK(doc["paths"][1]["timeouts"].get<std::uint64_t>() > 0);
  CHECK(doc["state"] == "degraded");
}

TEST_CASE("test-status-endpoint-answers-one-document-per-connection", "[status]") {
  TempDir dir;
  EngineLab lab;
  fs::path sock = dir.path / "run" / "e1.2.sock";
  std::error_code ec;
  std::string error;
  int calls = 0;
  auto endpoint = StatusEndpoint::open_at(
      lab.io, sock, [&] { ++calls; return daemon::status_json(*lab.engine, "/dev/nbd3"); }, ec, error);
  REQUIRE(endpoint);
  INFO(error);
  struct stat st {};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(sock.parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  for (int i = 1; i <= 3; ++i) {
    auto doc = query_while_running(lab.io, sock, ec);
    REQUIRE(doc);
    CHECK((*doc)["target"] == "e1.2");
    CHECK((*doc)["device"] == "/dev/nbd3");
    CHECK(calls == i);
  }
  endpoint.reset();
  CHECK_FALSE(fs::exists(sock));
  CHECK_FALSE(daemon::query_status(sock, 1s, ec));
  CHECK(ec == std::errc::no_such_file_or_directory);
}

TEST_CASE("test-status-endpoint-run-dir-from-environment", "[status]") {
  TempDir dir;
  ::setenv("AOE_RUN_DIR", dir.path.c_str(), 1);
  CHECK(daemon::status_socket_path("e3.4") == dir.path / "e3.4.sock");
  EngineLab lab;
  std::error_code ec;
  std::string error;
  auto endpoint = StatusEndpoint::open(lab.io, "e1.2", [&] { return daemon::status_json(*lab.engine, "s"); }, ec, error);
  ::unsetenv("AOE_RUN_DIR");
  REQUIRE(endpoint);
  CHECK(endpoint->path() == dir.path / "e1.2.sock");
  CHECK(daemon::status_socket_path("e3.4") == fs::path("/run/aoe/e3.4.sock"));
}

TEST_CASE("test-status-endpoint-replaces-stale-refuses-live", "[status]") {
  TempDir dir;
  EngineLab lab;
  fs::path sock = dir.path / "e1.2.sock";
  auto status = [&] { return daemon::status_json(*lab.engine, "/dev/nbd0"); };
  {  // A socket nobody listens on, as a killed daemon leaves it.
    boost::asio::io_context other;
    boost::asio::local::stream_protocol::acceptor dead(other, boost::asio::local::stream_protocol::endpoint(sock.native()));
  }
  REQUIRE(fs::is_socket(sock));
  std::error_code ec;
  std::string error;
  auto first = StatusEndpoint::open_at(lab.io, sock, status, ec, error);
  REQUIRE(first);

  // A second daemon for the same target is refused, and the first keeps its socket.
  // The first answers from another thread while the second checks.
  std::unique_ptr<StatusEndpoint> second;
  auto checking = std::async(std::launch::async, [&] {
    boost::asio::io_context io2;
    return StatusEndpoint::open_at(io2, sock, status, ec, error) == nullptr;
  });
  while (checking.wait_for(0s) != std::future_status::ready) {
    lab.io.run_for(1ms);
    lab.io.restart();
  }
  CHECK(checking.get());
  CHECK(ec == std::errc::address_in_use);
  CHECK_THAT(error, Catch::Contains("already served by another aoe-attach") && Catch::Contains("/dev/nbd0") &&
                        Catch::Contains(std::to_string(::getpid())));
  CHECK(query_while_running(lab.io, sock, ec));

  // A regular file in the way is never deleted.
  fs::path file = dir.path / "e1.3.sock";
  std::ofstream(file) << "not a socket";
  CHECK_FALSE(StatusEndpoint::open_at(lab.io, file, status, ec, error));
  CHECK(fs::is_regular_file(file));
}

TEST_CASE("test-status-endpoint-survives-clients-that-hang-up", "[status]") {
  TempDir dir;
  EngineLab lab;
  fs::path sock = dir.path / "e1.2.sock";
  std::error_code ec;
  std::string error;
  auto endpoint = StatusEndpoint::open_at(lab.io, sock, [&] { return daemon::status_json(*lab.engine, "s"); }, ec, error);
  REQUIRE(endpoint);
  // Connect and close at once, many times; then a real query still works.
  for (int i = 0; i < 20; ++i) {
    boost::asio::io_context client_io;
    boost::asio::local::stream_protocol::socket s(client_io);
    s.connect(boost::asio::local::stream_protocol::endpoint(sock.native()));
    s.close();
    lab.io.run_for(1ms);
    lab.io.restart();
  }
  CHECK(query_while_running(lab.io, sock, ec));
}

TEST_CASE("test-status-endpoint-bad-utf8-from-target-still-answers", "[status]") {
  TempDir dir;
  boost::asio::io_context io;
  fs::path sock = dir.path / "e1.2.sock";
  std::error_code ec;
  std::string error;
  // Model and serial are the target's IDENTIFY bytes, not necessarily UTF-8.
  auto endpoint = StatusEndpoint::open_at(
      io, sock, [] { return nlohmann::json{{"target", "e1.2"}, {"model", "disk\xff\xfe"}}; }, ec, error);
  REQUIRE(endpoint);
  auto doc = query_while_running(io, sock, ec);
  REQUIRE(doc);
  CHECK((*doc)["model"].get<std::string>().rfind("disk", 0) == 0);
}
