// attach_child.h: one aoe-attach serving one target of a shelf
// (docs/shelf.md), started by aoe-attach --all as a child process in the
// foreground.  Its stdout carries the one line it prints when ready (the
// device or socket); its stderr, the log, which is relayed line by line to
// ours (so it follows us to the journal or to syslog).  Reaping is the
// owner's: it calls exited() with what waitpid() returned; Events::exited
// follows once the log is read to its end (a grandchild holding the pipe
// is none of ours: aoe-attach --foreground does not fork).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/streambuf.hpp>

namespace aoe::daemon {

class AttachChild {
 public:
  struct Events {
    std::function<void(const std::string& line)> ready;  // the first line on its stdout
    std::function<void(int wait_status)> exited;         // after exited(), once
  };

  // Starts `program` with `args` (argv[1...]), stdin on /dev/null, in a
  // process group of its own (a Ctrl-C to ours is ours to pass on), no
  // descriptor of ours but its pipes, and without NOTIFY_SOCKET (systemd
  // hears from us).  Null with `ec` if it cannot.
  static std::unique_ptr<AttachChild> spawn(boost::asio::io_context& io, const std::string& program,
                                            const std::vector<std::string>& args, Events events,
                                            std::error_code& ec);
  ~AttachChild();
  AttachChild(const AttachChild&) = delete;
  AttachChild& operator=(const AttachChild&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void signal(int sig) noexcept;
  // waitpid() said it ended: the log read so far is relayed, then Events::exited.
  void exited(int wait_status);

 private:
  AttachChild(boost::asio::io_context& io, pid_t pid, int out, int err, Events events);
  void read_stdout();
  void read_stderr();
  void finish();

  pid_t pid_;
  boost::asio::posix::stream_descriptor out_, err_;
  boost::asio::streambuf out_buf_, err_buf_;
  Events events_;
  bool ready_ = false;
  std::optional<int> status_;  // waitpid()'s, once reaped
  bool err_done_ = false;      // its stderr reached EOF
  bool reported_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards handlers after destruction
};

}  // namespace aoe::daemon
