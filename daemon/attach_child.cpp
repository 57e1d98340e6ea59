#include "daemon/attach_child.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>

#include <boost/asio/read_until.hpp>

#include "base/log.h"

extern char** environ;

namespace aoe::daemon {

namespace {

// environ without NOTIFY_SOCKET: a child's READY=1 is not the unit's.
std::vector<char*> child_environment() {
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) env.push_back(*e);
  env.push_back(nullptr);
  return env;
}

// "<N>text" (log.h's prefix) -> level N and text; anything else is a notice.
void relay(std::string line) {
  auto level = log::Level::notice;
  if (line.size() >= 3 && line[0] == '<' && line[2] == '>' && line[1] >= '0' && line[1] <= '7') {
    level = static_cast<log::Level>(std::max(3, line[1] - '0'));
    line.erase(0, 3);
  }
  // The child applied -v/-q already: its lines all pass.
  log::write(level, line);
}

}  // namespace

std::unique_ptr<AttachChild> AttachChild::spawn(boost::asio::io_context& io, const std::string& program,
                                                const std::vector<std::string>& args, Events events,
                                                std::error_code& ec) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ec = {errno, std::generic_category()};
    return nullptr;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ec = {errno, std::generic_category()};
    ::close(out[0]);
    ::close(out[1]);
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  // Our raw sockets and status socket are not the child's to hold.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // we ignore it; the child decides for itself
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto env = child_environment();
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ec = {rc, std::generic_category()};
    ::close(out[0]);
    ::close(err[0]);
    return nullptr;
  }
  return std::unique_ptr<AttachChild>(new AttachChild(io, pid, out[0], err[0], std::move(events)));
}

AttachChild::AttachChild(boost::asio::io_context& io, pid_t pid, int out, int err, Events events)
    : pid_(pid), out_(io, out), err_(io, err), events_(std::move(events)) {
  read_stdout();
  read_stderr();
}

AttachChild::~AttachChild() { *alive_ = false; }

void AttachChild::signal(int sig) noexcept {
  if (pid_ > 0) ::kill(pid_, sig);
}

void AttachChild::read_stdout() {
  boost::asio::async_read_until(out_, out_buf_, '\n',
                                [this, alive = alive_](const boost::system::error_code& ec, std::size_t) {
                                  if (!*alive || ec) return;
                                  std::istream in(&out_buf_);
                                  std::string line;
                                  std::getline(in, line);
                                  if (!ready_ && events_.ready) {
                                    ready_ = true;
                                    events_.ready(line);
                                  }
                                  read_stdout();
                                });
}

void AttachChild::read_stderr() {
  boost::asio::async_read_until(err_, err_buf_, '\n',
                                [this, alive = alive_](const boost::system::error_code& ec, std::size_t) {
                                  if (!*alive) return;
                                  std::istream in(&err_buf_);
                                  std::string line;
                                  if (!ec) {
                                    std::getline(in, line);
                                    relay(std::move(line));
                                    return read_stderr();
                                  }
                                  // EOF: its last words, then the exit if it was reaped.
                                  if (std::getline(in, line) && !line.empty()) relay(std::move(line));
                                  err_done_ = true;
                                  finish();
                                });
}

void AttachChild::exited(int wait_status) {
  pid_ = 0;
  status_ = wait_status;
  finish();
}

// Both its exit and the end of its log: why it failed is logged before
// its exit is acted on.
void AttachChild::finish() {
  if (pid_ != 0 || !status_ || !err_done_ || reported_) return;
  reported_ = true;
  if (events_.exited) events_.exited(*status_);
}

}  // namespace aoe::daemon
