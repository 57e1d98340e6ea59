// netlink.h: the kernel nbd driver's generic netlink family "nbd"
// (docs/nbd-protocol.md §5.3), one blocking request/reply per call through libnl.
// Internal to the kernel attach (kernel_attach.h is the public face).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "nbd-bridge/attach_types.h"

struct nl_sock;

namespace aoe::nbd::netlink {

struct NlSockFree {
  void operator()(nl_sock* s) const noexcept;
};

// A genl socket with the "nbd" family resolved.
struct Genl {
  std::unique_ptr<nl_sock, NlSockFree> sock;
  int family = -1;
};

// Resolves the family; nothing (and no error) when the kernel has no nbd
// family (nbd.ko not loaded, or a kernel older than the genl interface).
std::optional<Genl> open_genl(std::error_code& ec);

// CONNECT: attaches the request's sockets; `index` is the device the
// kernel chose (or the requested one).
std::error_code connect_device(Genl& g, const AttachRequest& r, std::uint32_t& index);
// RECONFIGURE with a new size (the backend id is quoted again, or the kernel refuses).
std::error_code resize(Genl& g, std::uint32_t index, std::uint64_t size_bytes, const std::string& backend_id);
// RECONFIGURE with fresh sockets: each replaces the first dead connection;
// one for which none is dead is dropped silently, and the call succeeds.
// Nothing else changes (a new size would freeze the queue until every
// request the kernel holds completed).
std::error_code reconnect(Genl& g, std::uint32_t index, const std::vector<int>& sockets,
                          const std::string& backend_id);
// RECONFIGURE with a new request and dead-connection timeout (docs/nbd-protocol.md §5.5).
std::error_code set_timeouts(Genl& g, std::uint32_t index, std::uint64_t request_seconds,
                             std::uint64_t dead_conn_seconds, const std::string& backend_id);
std::error_code disconnect(Genl& g, std::uint32_t index);
DeviceStatus status(Genl& g, std::uint32_t index, std::error_code& ec);

}  // namespace aoe::nbd::netlink
