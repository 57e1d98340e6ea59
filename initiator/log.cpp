#include "initiator/log.h"

#include <unistd.h>

#include <string>

namespace aoe::log {

void write(Level level, std::string_view message) noexcept {
  // One write(2) per line so concurrent processes do not interleave.
  std::string line;
  try {
    line.reserve(message.size() + 5);
    line += '<';
    line += static_cast<char>('0' + static_cast<int>(level));
    line += '>';
    line += message;
    line += '\n';
  } catch (...) {
    return;
  }
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

bool RateLimit::allow(unsigned long& suppressed) noexcept {
  auto now = std::chrono::steady_clock::now();
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
