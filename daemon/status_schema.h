// status_schema.h: what a running aoe-attach tells aoe-stat: where its
// status socket lives (RUN_DIR/eS.L.sock, RUN_DIR is /run/aoe or
// $AOE_RUN_DIR) and the JSON document it writes there (stable keys;
// aoe-stat(8) lists them).  The server is status_endpoint.h, the reader
// status_client.h.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

namespace aoe {
class Engine;
}

namespace aoe::daemon {

// /run/aoe unless the environment names another directory (AOE_RUN_DIR).
std::filesystem::path run_dir();
std::filesystem::path status_socket_path(const std::string& target);
// Every status socket in run_dir(), live or stale; none if it does not exist.
std::vector<std::filesystem::path> status_sockets(std::error_code& ec);

// The status document of one daemon.  `device` is /dev/nbdN or the NBD
// socket path.  Pure but for reading the engine.
nlohmann::json status_json(const Engine& engine, const std::string& device, long pid);
nlohmann::json status_json(const Engine& engine, const std::string& device);  // pid of this process

}  // namespace aoe::daemon
