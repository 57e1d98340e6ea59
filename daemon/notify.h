// notify.h: tells the service manager how the daemon is doing, so a
// Type=notify unit (systemd/aoe-attach@.service.in) counts as started only
// once the export serves, and `systemctl status` shows what it waits for.
// The protocol is sd_notify(3)'s, which systemd documents as stable: one
// AF_UNIX datagram of newline-separated VARIABLE=value lines to the socket
// named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
// No libsystemd: a dozen lines, and no library on the I/O path's host.
// Without $NOTIFY_SOCKET every call does nothing.
#pragma once

#include <string>
#include <utility>
#include <string_view>
#include <system_error>

namespace aoe::daemon {

class Notifier {
 public:
  // Takes $NOTIFY_SOCKET as it is now.
  static Notifier from_environment();
  explicit Notifier(std::string address) : address_(std::move(address)) {}

  bool enabled() const noexcept { return !address_.empty(); }

  // "READY=1": the export answers; with its STATUS= line.
  std::error_code ready(std::string_view status) { return send(fmt_state("READY=1", status)); }
  // "STATUS=...": what the daemon is doing, e.g. searching for its target.
  std::error_code status(std::string_view status) { return send(fmt_state("", status)); }
  // "STOPPING=1": draining before exit.
  std::error_code stopping(std::string_view status) { return send(fmt_state("STOPPING=1", status)); }

  // Sends `state` as one datagram (no-op when not enabled).  Never blocks
  // for long: the manager's socket is a datagram socket it reads promptly.
  std::error_code send(std::string_view state) const;

 private:
  static std::string fmt_state(std::string_view first, std::string_view status);
  std::string address_;
};

}  // namespace aoe::daemon
