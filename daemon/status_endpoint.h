// status_endpoint.h: how a running aoe-attach answers aoe-stat.  It listens
// on status_socket_path(target) (status_schema.h) and writes one JSON
// document to every connection, then closes it.  No request to parse, so
// nothing to harden.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

namespace aoe::daemon {

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

}  // namespace aoe::daemon
