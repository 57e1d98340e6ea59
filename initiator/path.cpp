#include "initiator/path.h"

#include <algorithm>

namespace aoe {

void RttEstimator::sample(Duration rtt) noexcept {
  // RFC 6298 section 2: alpha = 1/8, beta = 1/4.
  if (!has_sample_) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
    has_sample_ = true;
  } else {
    Duration err = rtt > srtt_ ? rtt - srtt_ : srtt_ - rtt;
    rttvar_ += (err - rttvar_) / 4;
    srtt_ += (rtt - srtt_) / 8;
  }
  backoff_ = 0;
}

void RttEstimator::on_timeout() noexcept {
  if (backoff_ < 16) ++backoff_;
}

Duration RttEstimator::rto() const noexcept {
  Duration base = has_sample_ ? srtt_ + 4 * rttvar_ : limits_.initial_rto;
  base = std::clamp(base, limits_.min_rto, limits_.max_rto);
  for (unsigned i = 0; i < backoff_ && base < limits_.max_rto; ++i) base *= 2;
  return std::min(base, limits_.max_rto);
}

Window::Window(unsigned cap) noexcept
    : cwnd_(std::max(1u, cap / 2)), ssthresh_(std::max(1u, cap)), cap_(std::max(1u, cap)) {}

void Window::on_ack() noexcept {
  if (cwnd_ < ssthresh_)
    cwnd_ += 1;              // slow start: double per round trip
  else
    cwnd_ += 1 / cwnd_;      // congestion avoidance: +1 per window
  cwnd_ = std::min(cwnd_, static_cast<double>(cap_));
}

bool Window::on_loss(std::uint64_t sequence, std::uint64_t next_sequence) noexcept {
  if (sequence < recovery_end_) return false;  // same episode: already reacted
  ssthresh_ = std::max(1u, size() / 2);
  cwnd_ = ssthresh_;
  recovery_end_ = next_sequence;
  return true;
}

void Window::set_cap(unsigned cap) noexcept {
  cap_ = std::max(1u, cap);
  ssthresh_ = std::min(ssthresh_, cap_);
  cwnd_ = std::min(cwnd_, static_cast<double>(cap_));
}

}  // namespace aoe
