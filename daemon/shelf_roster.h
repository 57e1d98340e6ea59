// shelf_roster.h: the rules aoe-attach --all follows for each target it
// serves, apart from processes and timers so that they can be tested alone
// (daemon/shelf.cpp carries them out; docs/shelf.md explains them).
//
//   - a child that exits 0 was detached by an operator: it stays detached;
//   - one whose exit code no new attempt heals is given up;
//   - any other is started again after a delay that doubles per failure in
//     a row, up to the rediscover interval;
//   - "all ready" (READY=1) means the first discovery is over and no target
//     is still starting: each one serves or has failed.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace aoe::daemon {

// elsewhere: another aoe-attach on this host serves the target (an
// aoe-attach@ unit, a child of ours that outlived us).
enum class MemberState { starting, ready, waiting, given_up, detached, elsewhere };

// Exit codes a new attempt does not heal (as the template unit's
// RestartPreventExitStatus): a bad command line, no interface, no
// permission, no kernel device, a target claimed by another host.
bool hopeless_exit_code(int code);

// "exited with status 3", "killed by signal 9": a waitpid status for logs.
std::string describe_wait_status(int wait_status);

struct RestartPolicy {
  std::chrono::milliseconds first_delay{5000};
  std::chrono::milliseconds longest_delay{60000};
  // The delay before the next start after `failures_in_a_row` (>= 1) failures.
  std::chrono::milliseconds delay(int failures_in_a_row) const;
};

// What a target becomes when its child exits with `wait_status`: detached,
// given_up or waiting (to be started again).  While the supervisor stops,
// every exit is a detach.
MemberState after_child_exit(int wait_status, bool stopping);

// Where the roster stands, for readiness and the status line.
struct RosterSummary {
  bool settled = false;        // nothing starting: READY=1 may be sent
  std::string first_starting;  // when not settled
  std::size_t serving = 0;
  std::size_t elsewhere = 0;   // served by another aoe-attach here
  std::size_t failed = 0;      // waiting, given up, detached
};

struct RosterEntry {
  std::string name;
  MemberState state;
};
RosterSummary summarize(const std::vector<RosterEntry>& members);

}  // namespace aoe::daemon
