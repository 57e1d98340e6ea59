#include "initiator/log.h"

#include <sys/uio.h>
#include <unistd.h>

namespace aoe::log {

void write(Level level, std::string_view message) noexcept {
  // One writev(2) per line so concurrent processes do not interleave.
  char prefix[3] = {'<', static_cast<char>('0' + static_cast<int>(level)), '>'};
  char newline = '\n';
  iovec parts[3] = {{prefix, sizeof prefix},
                    {const_cast<char*>(message.data()), message.size()},  // writev only reads it
                    {&newline, 1}};
  [[maybe_unused]] auto n = ::writev(STDERR_FILENO, parts, 3);
}

bool RateLimit::allow(unsigned long& suppressed, std::chrono::steady_clock::time_point now) noexcept {
  if (now - window_start_ >= interval_) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++dropped_;
    return false;
  }
  ++used_;
  suppressed = dropped_;
  dropped_ = 0;
  return true;
}

}  // namespace aoe::log
