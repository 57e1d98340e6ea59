// status_endpoint.h: how a running aoe-attach answers aoe-stat.  Each daemon
// listens on a unix stream socket, RUN_DIR/eS.L.sock (RUN_DIR is /run/aoe,
// or $AOE_RUN_DIR), and writes one JSON document describing itself to every
// connection, then closes it.  No request to parse, so nothing to harden.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

namespace aoe {
class Engine;
}

namespace aoe::tools {

// /run/aoe unless the environment names another directory (AOE_RUN_DIR).
std::filesystem::path run_dir();
std::filesystem::path status_socket_path(const std::string& target);
// Every status socket in run_dir(), live or stale; none if it does not exist.
std::vector<std::filesystem::path> status_sockets(std::error_code& ec);

// The status document of one daemon (stable keys; aoe-stat(8) lists them).
// `device` is /dev/nbdN or the NBD socket path.  Pure but for reading the engine.
nlohmann::json status_json(const Engine& engine, const std::string& device, long pid);
nlohmann::json status_json(const Engine& engine, const std::string& device);  // pid of this process

// Connects to a status socket and reads the document, blocking up to
// `timeout`.  For aoe-stat and for the live check below (before io runs).
// errc::connection_refused or no_such_file_or_directory: nothing listens
// (a stale socket).
std::optional<nlohmann::json> query_status(const std::filesystem::path& socket, std::chrono::milliseconds timeout,
                                           std::error_code& ec);

class StatusEndpoint {
 public:
  using Status = std::function<nlohmann::json()>;

  // Listens on status_socket_path(target), creating the directory (0700) and
  // the socket (0600); a stale socket is replaced.  Returns null with `ec`
  // and a sentence for the user in `error` when it cannot: ec is
  // errc::address_in_use when another process answers on that socket
  // (another aoe-attach serves the target).  Blocks up to 2 s asking an
  // existing socket who is there: call before the io thread runs.  `status`
  // runs on the io thread, for each connection.
  static std::unique_ptr<StatusEndpoint> open(boost::asio::io_context& io, const std::string& target,
                                              Status status, std::error_code& ec, std::string& error);
  // Same, at an explicit path (tests).
  static std::unique_ptr<StatusEndpoint> open_at(boost::asio::io_context& io, const std::filesystem::path& socket,
                                                 Status status, std::error_code& ec, std::string& error);

  // Stops listening and removes the socket.  Call on the io thread or once
  // it has stopped; connections being written finish or die with the io_context.
  ~StatusEndpoint();
  StatusEndpoint(const StatusEndpoint&) = delete;
  StatusEndpoint& operator=(const StatusEndpoint&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

  struct State;  // opaque; shared with pending handlers, which may outlive us

 private:
  StatusEndpoint(std::shared_ptr<State> state, std::filesystem::path path);
  std::shared_ptr<State> state_;
  std::filesystem::path path_;
};

}  // namespace aoe::tools
