// kernel_serving.h: serving the target as /dev/nbdN through the kernel's
// nbd driver, until SIGINT/SIGTERM, a detach from outside, or the kernel
// declaring the sockets dead.
//
// Everything is driven from the io_context: the NBD sessions, the signals,
// the server noticing that the kernel let go of every socket, and the
// watchdog that bounds how long we wait for the kernel to drop the
// device.  The kernel calls that block (attach, resize, disconnect, status:
// netlink or ioctl, which may wait for in-flight I/O that this very io
// thread serves) run on one kernel thread of their own; each hands its
// result back to the io thread as a posted completion.
#pragma once

#include <cstdint>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/attached_target.h"
#include "daemon/kernel_driver.h"
#include "daemon/readiness.h"
#include "daemon/serving.h"

namespace aoe::daemon {

// A server in the kernel's block I/O path must not wait for memory the
// kernel can only free by writing through that same path: marks the process
// as an I/O flusher and keeps every page resident.  Before any thread starts.
void harden_for_kernel_io();

// The kernel's per-request timeout for `connections` sockets (doc
// nbd-protocol §5.5).
std::uint64_t kernel_request_timeout(double deadline_seconds, unsigned connections);

// Attaches the target's NBD server to `driver` over o.connections
// socketpairs, reports readiness, runs `io` until the device is detached,
// and returns the exit code.
int serve_kernel(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                 const Options& o, Readiness& readiness, Served& served, KernelDriver& driver = nbd_driver());

}  // namespace aoe::daemon
