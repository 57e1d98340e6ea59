// log.h: one line per event on stderr (the journal under systemd), with a
// level prefix that journald understands (<3> err ... <7> debug); or, for a
// daemon that left its terminal, to syslog (to_syslog).  Messages name
// target, path and tag so a line alone diagnoses (the aoe driver's rule).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string_view>
#include <utility>

#include <fmt/core.h>

namespace aoe::log {

enum class Level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// Messages above this level are dropped; tools set it from -v/-q.
inline Level threshold = Level::notice;

void write(Level level, std::string_view message) noexcept;

// From now on, lines go to the local syslog socket (/dev/log: journald or a
// syslog daemon) as "<PRI>ident[pid]: message", facility daemon.  False,
// and stderr stays, when nothing listens there.  `ident` must outlive the
// process's logging (a string literal); `socket` is for tests.
bool to_syslog(const char* ident, const char* socket = "/dev/log") noexcept;

// A line is formatted on the stack (a longer one is cut): logging allocates
// nothing and never throws, as it must when memory is short.
inline constexpr std::size_t max_line = 2048;

template <typename... Args>
void at(Level level, fmt::format_string<Args...> format, Args&&... args) noexcept {
  if (level > threshold) return;
  char line[max_line];
  std::size_t size = 0;
  try {
    size = std::min(fmt::format_to_n(line, sizeof line, format, std::forward<Args>(args)...).size, sizeof line);
  } catch (...) {
    return write(level, "(a log message could not be formatted)");
  }
  write(level, std::string_view(line, size));
}

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... a) { at(Level::error, f, std::forward<Args>(a)...); }
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... a) { at(Level::warning, f, std::forward<Args>(a)...); }
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... a) { at(Level::notice, f, std::forward<Args>(a)...); }
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... a) { at(Level::info, f, std::forward<Args>(a)...); }
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) { at(Level::debug, f, std::forward<Args>(a)...); }

// Lets at most `burst` events through per `interval`, then counts the rest
// and reports how many were suppressed with the next event let through.
// For per-frame events such as retransmits, so a storm cannot flood the log.
class RateLimit {
 public:
  explicit RateLimit(int burst = 10, std::chrono::seconds interval = std::chrono::seconds(5))
      : burst_(burst), interval_(interval) {}

  // True if this event may be logged; `suppressed` is set to the number of
  // events dropped since the last one let through.
  bool allow(unsigned long& suppressed) noexcept { return allow(suppressed, std::chrono::steady_clock::now()); }
  // The same at `now`, for callers with their own clock (the engine's, tests').
  bool allow(unsigned long& suppressed, std::chrono::steady_clock::time_point now) noexcept;

 private:
  int burst_;
  std::chrono::seconds interval_;
  std::chrono::steady_clock::time_point window_start_{};
  int used_ = 0;
  unsigned long dropped_ = 0;
};

}  // namespace aoe::log
