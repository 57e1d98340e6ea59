// shelf_pid.h: how aoe-detach --all finds the aoe-attach --all of this host
// (docs/shelf.md): RUN_DIR/all.pid (status_schema.h's RUN_DIR), holding its
// pid and locked (flock) for as long as it runs, so a stale file is told
// from a live one and a second aoe-attach --all is refused.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <system_error>

namespace aoe::daemon {

std::filesystem::path shelf_pid_path();

// Creates and locks the file and writes our pid; the lock lasts until the
// returned descriptor is closed (at exit).  -1 with `ec` if it cannot;
// errc::resource_unavailable_try_again, with `holder` set, when another
// aoe-attach --all holds it.
int lock_shelf_pid(pid_t& holder, std::error_code& ec);

// The pid of the running aoe-attach --all, if one holds the file.
std::optional<pid_t> running_shelf();

}  // namespace aoe::daemon
