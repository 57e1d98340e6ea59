#include "daemon/readiness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/core.h>

#include "base/log.h"

namespace aoe::daemon {
namespace {

// The parent's child, and the stop signal the parent got while waiting.
volatile sig_atomic_t waiting_child = 0;
volatile sig_atomic_t cancelled_by = 0;

// Ctrl-C or SIGTERM to the waiting parent cancels the attach: the child is
// told to stop (it checks before each step toward serving, and detaches if
// it got that far), and the parent leaves only once it is gone.
void cancel_child(int sig) {
  cancelled_by = sig;
  if (waiting_child > 0) ::kill(static_cast<pid_t>(waiting_child), SIGTERM);
}

void write_all(int fd, const std::string& s) {
  for (std::size_t done = 0; done < s.size();) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// The parent's side: "<code> <text>\n" from the child, or EOF if it died.
[[noreturn]] void wait_for_child(int fd, pid_t child) {
  waiting_child = child;
  struct sigaction sa {};
  sa.sa_handler = cancel_child;  // no SA_RESTART: read() returns to look
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno != EINTR) break;
    if (n > 0) report.append(buf, static_cast<std::size_t>(n));
  }
  if (cancelled_by != 0) {
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    log::error("aoe-attach: cancelled by signal {}; the background process has stopped", static_cast<int>(cancelled_by));
    // Exit as the signal would have ended us, as a shell expects of Ctrl-C.
    ::signal(cancelled_by, SIG_DFL);
    ::raise(cancelled_by);
    std::exit(128 + cancelled_by);
  }
  if (report.empty()) {
    int status = 0;
    ::waitpid(child, &status, 0);
    log::error("aoe-attach: the background process exited before it was ready (status {})", status);
    std::exit(1);
  }
  int code = std::atoi(report.c_str());
  std::string text = report.substr(report.find(' ') + 1);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (code == 0)
    fmt::print("{}\n", text);
  else
    log::error("aoe-attach: {}", text);
  std::exit(code);
}

}  // namespace

Readiness Readiness::daemonize() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("aoe-attach: pipe");
    std::exit(1);
  }
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("aoe-attach: fork");
    std::exit(1);
  }
  if (pid > 0) {
    ::close(fds[1]);
    wait_for_child(fds[0], pid);
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) { /* "/" always exists */ }
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::close(null);
  }
  return Readiness(fds[1]);
}

void Readiness::ready(const std::string& line) {
  notifier_.ready("serving " + line);
  if (fd_ < 0) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
    return;
  }
  write_all(fd_, "0 " + line + "\n");
  ::close(fd_);
  fd_ = -1;
  // A caller that gave us a pipe as stderr waits for its EOF
  // (`dev=$(aoe-attach e1.2 2>&1)`, ssh): let go of it once serving.  A
  // terminal goes away at logout.  Both: the log goes on to syslog (where
  // there is one; a pipe is let go of anyway).  Files and sockets
  // (journald's stream) keep the log.
  struct stat st {};
  const bool fifo = ::fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode);
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  if ((fifo || terminal) && (log::to_syslog("aoe-attach") || fifo)) {
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
  }
}

void Readiness::failed(int code, const std::string& message) {
  if (fd_ < 0) {
    log::error("aoe-attach: {}", message);
    return;
  }
  write_all(fd_, fmt::format("{} {}\n", code, message));
  ::close(fd_);
  fd_ = -1;
}

}  // namespace aoe::daemon
