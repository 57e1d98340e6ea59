// ublk_serving.h: serving the target as /dev/ublkbN through the kernel's
// ublk driver (docs/architecture.md, "ublk serving"), until SIGINT/SIGTERM
// or the device is stopped from outside.
//
// The kernel hands each request to us as a descriptor in shared memory,
// through io_uring commands on /dev/ublkcN (ublk_queue.h, ublk_device.h):
// no socket and no byte stream in between, and one copy of the data.  One
// queue, served on the io thread beside the engine; the blocking control
// commands (START_DEV, STOP_DEV, DEL_DEV, END_USER_RECOVERY, which wait for
// I/O that this thread serves) run on a kernel thread of their own.
//
// Surviving our own restart: with --reconnect-timeout other than 0 the
// device is made with UBLK_F_USER_RECOVERY and _REISSUE.  When we are gone
// (SIGKILL, a crash, SIGTERM while it is in use) the kernel keeps
// /dev/ublkbN and quiesces its queue, holding every request; the next
// aoe-attach of the target finds the device by the mark it carries
// (ublk_takeover.h), takes it over with START/END_USER_RECOVERY, and the
// kernel reissues to it the requests that were in flight at the old one
// (AoE reads and writes are idempotent, so that is safe).
#pragma once

#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/attached_target.h"
#include "daemon/readiness.h"
#include "daemon/serving.h"
#include "daemon/ublk_device.h"

namespace aoe::daemon {

// Serves `target` as /dev/ublkbN through `control` (the choice's,
// kernel_device_choice.h), reports readiness, runs `io` until the device
// is detached, and returns the exit code.  Nothing when --kernel-device
// auto should take nbd instead: the kernel would not make or start a ublk
// device (logged as a warning), nothing was served, and `io` and `target`
// are ready for serve_kernel.
std::optional<int> serve_ublk(boost::asio::io_context& io, boost::asio::signal_set& signals,
                              AttachedTarget& target, const Options& o, std::unique_ptr<UblkControl> control,
                              Readiness& readiness, Served& served);

}  // namespace aoe::daemon
