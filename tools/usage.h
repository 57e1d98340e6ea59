// usage.h: how every tool reports a fatal error: a line with the syslog
// priority <3> like every log line (base/log.h), so the journal files
// the reason a unit failed as an error, not as info.  Bad command lines are
// reported the same way by tools/cli.cpp.
#pragma once

#include <string_view>

namespace aoe::tools {

// Prints "<3>TOOL: message" on stderr and returns code.
int fail(std::string_view tool, int code, std::string_view message);

}  // namespace aoe::tools
