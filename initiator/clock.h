// clock.h: the clock every decision by time reads (through TimerService,
// initiator/timer_service.h, so that tests can move it by hand).
#pragma once

#include <chrono>

namespace aoe {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;

}  // namespace aoe
