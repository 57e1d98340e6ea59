#include "daemon/shelf_roster.h"

#include <sys/wait.h>

#include <algorithm>

#include <fmt/core.h>

#include "daemon/exit_codes.h"

namespace aoe::daemon {

bool hopeless_exit_code(int code) {
  return code == exit_usage || code == exit_no_interface || code == exit_permission || code == exit_no_nbd ||
         code == exit_claimed;
}

std::string describe_wait_status(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exited with status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return fmt::format("killed by signal {}", WTERMSIG(wait_status));
  return fmt::format("ended ({})", wait_status);
}

std::chrono::milliseconds RestartPolicy::delay(int failures_in_a_row) const {
  // The shift is bounded so that a long run of failures cannot overflow.
  const int doublings = std::clamp(failures_in_a_row - 1, 0, 10);
  return std::min(first_delay * (1 << doublings), std::max(first_delay, longest_delay));
}

MemberState after_child_exit(int wait_status, bool stopping) {
  if (stopping) return MemberState::detached;
  if (WIFEXITED(wait_status)) {
    const int code = WEXITSTATUS(wait_status);
    if (code == exit_ok) return MemberState::detached;  // aoe-detach, or a disconnect from outside
    if (hopeless_exit_code(code)) return MemberState::given_up;
  }
  return MemberState::waiting;
}

RosterSummary summarize(const std::vector<RosterEntry>& members) {
  RosterSummary s;
  for (const auto& m : members) {
    if (m.state == MemberState::starting) {
      if (s.first_starting.empty()) s.first_starting = m.name;
      continue;
    }
    if (m.state == MemberState::ready)
      ++s.serving;
    else if (m.state == MemberState::elsewhere)
      ++s.elsewhere;
    else
      ++s.failed;
  }
  s.settled = s.first_starting.empty();
  return s;
}

}  // namespace aoe::daemon
