// readiness.h: going to the background the way a block-device helper must:
// the parent stays until the child is serving (or has failed), prints what
// the child reports and exits with its status, so `aoe-attach e1.2 && mount`
// works and a failure is never hidden behind a detached process.
#pragma once

#include <string>

#include "daemon/notify.h"

namespace aoe::daemon {

class Readiness {
 public:
  // Forks.  The parent never returns: it waits for the child's report and
  // exits with it.  The child starts a new session and returns.
  static Readiness daemonize();
  // Foreground: reports go straight to stdout/stderr.
  static Readiness foreground() { return Readiness(-1); }

  // Prints `line` on the parent's stdout (the device or socket path) and
  // lets the parent exit 0.  Once.  A pipe or terminal given as stderr is
  // released then (its reader may be waiting for EOF; a terminal goes at
  // logout): the log goes on to syslog.  Tells systemd READY=1 too.
  void ready(const std::string& line);
  // Reports a failure: the parent prints "aoe-attach: message" and exits `code`.
  void failed(int code, const std::string& message);
  // What systemd shows while we work toward serving, and that we drain.
  void status(const std::string& text) { notifier_.status(text); }
  void stopping(const std::string& text) { notifier_.stopping(text); }

 private:
  explicit Readiness(int fd) : fd_(fd), notifier_(Notifier::from_environment()) {}
  int fd_;
  Notifier notifier_;
};

}  // namespace aoe::daemon
