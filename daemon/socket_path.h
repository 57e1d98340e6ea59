// socket_path.h: whether aoe-attach --socket PATH can listen there, asked
// before discovery and any claim, so a typo in the path costs nothing on
// the wire and never leaves a target claimed for a server that cannot start.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace aoe::daemon {

// Nothing if a unix socket can be bound at `path` (absolute): it fits in
// sockaddr_un, its directory exists and we may create files there, and
// nothing but a (stale) socket is in the way.  Else the sentence for the user.
std::optional<std::string> socket_path_problem(const std::filesystem::path& path);

}  // namespace aoe::daemon
