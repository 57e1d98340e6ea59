// common.h: what every tool repeats: the shared options (-i, -v, -q,
// --version), exit codes, and opening a PacketLink per chosen interface.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "initiator/packet_link.h"
#include "tools/cli.h"
#include "daemon/exit_codes.h"

namespace aoe::tools {

struct CommonOptions {
  std::vector<std::string> interfaces;  // as given: repeatable, comma lists
  cli::Verbosity verbosity;
};

// Adds -i/--interface, -v/--verbose, -q/--quiet and --version.
void add_common_options(cli::App& app, CommonOptions& options);

// Parses the command line and applies -v/-q to aoe::log::threshold.  Returns
// an exit code when the tool should stop (--help, --version, a usage error,
// all already printed).
std::optional<int> parse(cli::App& app, const CommonOptions& options, int argc, char** argv);

// Prints "<3>TOOL: message" on stderr and returns code (tools/usage.h).
int fail(const cli::App& app, int code, const std::string& message);

// Parses the eSHELF.SLOT argument and rewrites `name` in the spelling the
// target reports ("e01.2" -> "e1.2"), so status sockets, export names,
// /dev/etherd links and messages agree however it was typed.  On a bad name
// prints why and returns exit_usage.
std::optional<int> parse_target_name(const cli::App& app, std::string& name, std::uint16_t& shelf,
                                     std::uint8_t& slot);

struct Links {
  std::vector<std::unique_ptr<PacketLink>> owned;
  std::vector<Link*> links;  // the same, as the libraries take them
};

// Opens a PacketLink on every interface chosen by -i (default: every up
// Ethernet interface).  On failure prints why and returns the exit code.
// With `absent`, a named interface that does not exist (yet) is not an
// error but listed there, as long as one of them exists: a daemon opens it
// when it appears.
std::optional<int> open_links(boost::asio::io_context& io, const cli::App& app,
                              const CommonOptions& options, Links& out,
                              std::vector<std::string>* absent = nullptr);

}  // namespace aoe::tools
