// status_client.h: reading a daemon's status document (status_schema.h)
// from a blocking main: aoe-stat, aoe-detach, and StatusEndpoint's check
// for a live sibling before any io thread runs.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

namespace aoe::daemon {

// Connects to a status socket and reads the document, blocking up to
// `timeout`.  errc::connection_refused or no_such_file_or_directory:
// nothing listens (a stale socket).
std::optional<nlohmann::json> query_status(const std::filesystem::path& socket, std::chrono::milliseconds timeout,
                                           std::error_code& ec);

}  // namespace aoe::daemon
