// kernel_serving.h: serving the target as /dev/nbdN through the kernel's
// nbd driver, until SIGINT/SIGTERM, a detach from outside, or the kernel
// declaring the sockets dead.
//
// Surviving our own restart (docs/nbd-protocol.md §5.5): the device gets a
// dead-connection timeout, so that once we are gone (a crash, SIGTERM while
// it is in use) the kernel holds its I/O for the next aoe-attach of the
// target, which adopts the device with fresh sockets (NBD_CMD_RECONFIGURE)
// instead of attaching a new one.
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
// A root storage daemon also makes itself exempt from the OOM killer: no
// systemd sets OOMScoreAdjust= in an initramfs.
void harden_for_kernel_io(bool root_storage = false);

// The kernel's per-request timeout for `connections` sockets (docs/nbd-protocol.md
// §5.5), given our deadline and --reconnect-timeout.
std::uint64_t kernel_request_timeout(double deadline_seconds, unsigned connections, unsigned reconnect_seconds);

// Attaches the target's NBD server to `driver` over o.connections
// socketpairs, reports readiness, runs `io` until the device is detached,
// and returns the exit code.
int serve_kernel(boost::asio::io_context& io, boost::asio::signal_set& signals, AttachedTarget& target,
                 const Options& o, Readiness& readiness, Served& served, KernelDriver& driver = nbd_driver());

}  // namespace aoe::daemon
