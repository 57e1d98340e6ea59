// The rules of aoe-attach --all (daemon/shelf_roster.h): what a target
// becomes when its child exits, the restart delays, and when "all" is ready.
#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "daemon/exit_codes.h"
#include "daemon/shelf_roster.h"

using namespace aoe;
using namespace aoe::daemon;
using namespace std::chrono_literals;

namespace {
// waitpid statuses as the kernel encodes them (W_EXITCODE, a plain signal).
int exited(int code) { return code << 8; }
int killed(int sig) { return sig; }
}  // namespace

TEST_CASE("test-shelf-roster-exit-0-is-a-detach", "[shelf]") {
  REQUIRE(WIFEXITED(exited(exit_ok)));
  CHECK(after_child_exit(exited(exit_ok), false) == MemberState::detached);
}

TEST_CASE("test-shelf-roster-hopeless-codes-are-given-up", "[shelf]") {
  for (int code : {exit_usage, exit_no_interface, exit_permission, exit_no_nbd, exit_claimed}) {
    INFO("exit code " << code);
    CHECK(after_child_exit(exited(code), false) == MemberState::given_up);
  }
}

TEST_CASE("test-shelf-roster-failures-and-crashes-are-retried", "[shelf]") {
  REQUIRE(WIFSIGNALED(killed(SIGKILL)));
  CHECK(after_child_exit(killed(SIGKILL), false) == MemberState::waiting);
  CHECK(after_child_exit(killed(SIGSEGV), false) == MemberState::waiting);
  CHECK(after_child_exit(exited(exit_failed), false) == MemberState::waiting);
  CHECK(describe_wait_status(killed(SIGKILL)) == "killed by signal 9");
  CHECK(describe_wait_status(exited(3)) == "exited with status 3");
}

TEST_CASE("test-shelf-roster-stopping-makes-every-exit-a-detach", "[shelf]") {
  CHECK(after_child_exit(killed(SIGKILL), true) == MemberState::detached);
  CHECK(after_child_exit(exited(exit_failed), true) == MemberState::detached);
}

TEST_CASE("test-shelf-roster-restart-delay-doubles-up-to-the-rediscover-interval", "[shelf]") {
  const RestartPolicy p{5000ms, 60000ms};
  CHECK(p.delay(1) == 5000ms);
  CHECK(p.delay(2) == 10000ms);
  CHECK(p.delay(3) == 20000ms);
  CHECK(p.delay(4) == 40000ms);
  CHECK(p.delay(5) == 60000ms);
  CHECK(p.delay(1000) == 60000ms);  // no overflow after a long run of failures
  CHECK(p.delay(0) == 5000ms);
  // An interval shorter than the first delay does not make it shorter.
  CHECK(RestartPolicy{5000ms, 1000ms}.delay(3) == 5000ms);
}

TEST_CASE("test-shelf-roster-ready-once-nothing-starts", "[shelf]") {
  CHECK(summarize({}).settled);  // no target yet: ready, and later ones attach as they come
  const auto starting = summarize({{"e1.0", MemberState::ready}, {"e1.1", MemberState::starting},
                                   {"e1.2", MemberState::starting}});
  CHECK_FALSE(starting.settled);
  CHECK(starting.first_starting == "e1.1");
  const auto done = summarize({{"e1.0", MemberState::ready}, {"e1.1", MemberState::waiting},
                               {"e1.2", MemberState::given_up}, {"e1.3", MemberState::ready},
                               {"e1.4", MemberState::elsewhere}});
  CHECK(done.settled);
  CHECK(done.serving == 2);
  CHECK(done.failed == 2);
  CHECK(done.elsewhere == 1);
}
