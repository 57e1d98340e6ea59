#include "daemon/readiness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/core.h>

namespace aoe::daemon {
namespace {

void write_all(int fd, const std::string& s) {
  for (std::size_t done = 0; done < s.size();) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// The parent's side: "<code> <text>\n" from the child, or EOF if it died.
[[noreturn]] void wait_for_child(int fd, pid_t child) {
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) report.append(buf, static_cast<std::size_t>(n));
  if (report.empty()) {
    int status = 0;
    ::waitpid(child, &status, 0);
    fmt::print(stderr, "aoe-attach: the background process exited before it was ready (status {})\n", status);
    std::exit(1);
  }
  int code = std::atoi(report.c_str());
  std::string text = report.substr(report.find(' ') + 1);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (code == 0)
    fmt::print("{}\n", text);
  else
    fmt::print(stderr, "aoe-attach: {}\n", text);
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
  if (fd_ < 0) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
    return;
  }
  write_all(fd_, "0 " + line + "\n");
  ::close(fd_);
  fd_ = -1;
  // A caller that gave us a pipe as stderr waits for its EOF
  // (`dev=$(aoe-attach e1.2 2>&1)`, ssh): let go of it once serving.
  // Files, terminals and sockets (journald) keep the log.
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
  }
}

void Readiness::failed(int code, const std::string& message) {
  if (fd_ < 0) {
    fmt::print(stderr, "aoe-attach: {}\n", message);
    return;
  }
  write_all(fd_, fmt::format("{} {}\n", code, message));
  ::close(fd_);
  fd_ = -1;
}

}  // namespace aoe::daemon
