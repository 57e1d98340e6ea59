// usage.h: how every tool reports what ends it: a bad command line (CLI11's
// message) and a fatal error, each line with the syslog priority <3> like
// every log line (initiator/log.h), so the journal files the reason a unit
// failed as an error, not as info.
#pragma once

#include <string_view>

#include <CLI/CLI.hpp>

namespace aoe::tools {

// Makes app.exit() print parse errors as "<3>TOOL: message" lines.
void report_usage_errors(CLI::App& app);

// Prints "<3>TOOL: message" on stderr and returns code.
int fail(std::string_view tool, int code, std::string_view message);

}  // namespace aoe::tools
