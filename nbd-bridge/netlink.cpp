// netlink.cpp: generic netlink requests to the nbd driver through libnl-genl
// (docs/nbd-protocol.md §5.3).
#include "nbd-bridge/netlink.h"

#include <functional>
#include <utility>

#include <linux/nbd-netlink.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "base/log.h"

namespace aoe::nbd::netlink {

namespace {

struct NlMsgFree {
  void operator()(nl_msg* m) const noexcept { nlmsg_free(m); }
};
using NlMsg = std::unique_ptr<nl_msg, NlMsgFree>;

using ReplyHandler = std::function<void(nlattr* const* attrs)>;

// One request/reply exchange: the reply attributes go to `on_reply`, the
// kernel's errno from the NLMSG_ERROR to `error` (libnl's own codes lose it).
struct Exchange {
  ReplyHandler on_reply;
  int error = 0;
};

int on_valid(nl_msg* msg, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  nlattr* attrs[NBD_ATTR_MAX + 1] = {};
  if (genlmsg_parse(nlmsg_hdr(msg), 0, attrs, NBD_ATTR_MAX, nullptr) == 0 && x->on_reply)
    x->on_reply(attrs);
  return NL_OK;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  static_cast<Exchange*>(arg)->error = -err->error;
  return NL_STOP;
}

}  // namespace

void NlSockFree::operator()(nl_sock* s) const noexcept { nl_socket_free(s); }

std::optional<Genl> open_genl(std::error_code& ec) {
  ec.clear();
  Genl g{std::unique_ptr<nl_sock, NlSockFree>(nl_socket_alloc()), -1};
  if (!g.sock) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
  if (int rc = genl_connect(g.sock.get()); rc < 0) {
    log::debug("nbd: generic netlink unavailable: {}", nl_geterror(rc));
    return std::nullopt;
  }
  g.family = genl_ctrl_resolve(g.sock.get(), NBD_GENL_FAMILY_NAME);
  if (g.family < 0) return std::nullopt;
  return g;
}

namespace {

NlMsg new_request(const Genl& g, std::uint8_t command) {
  NlMsg msg(nlmsg_alloc());
  if (msg && !genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, g.family, 0, 0, command,
                          NBD_GENL_VERSION))
    msg.reset();
  return msg;
}

std::error_code transact(Genl& g, NlMsg msg, ReplyHandler on_reply = {}) {
  Exchange x{std::move(on_reply), 0};
  nl_socket_modify_cb(g.sock.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &x);
  nl_socket_modify_err_cb(g.sock.get(), NL_CB_CUSTOM, on_error, &x);
  const int rc = nl_send_sync(g.sock.get(), msg.release());  // frees the message
  if (x.error != 0) return errno_code(x.error);
  if (rc < 0) {
    log::error("nbd: generic netlink: {}", nl_geterror(rc));
    return attach_errc::netlink_failure;
  }
  return {};
}

// Any nla_put* failure means the message buffer is too small: never for
// these few attributes, but reported rather than ignored.
std::error_code put_failed() { return std::make_error_code(std::errc::no_buffer_space); }

// NBD_ATTR_SOCKETS { NBD_SOCK_ITEM { NBD_SOCK_FD } ... }; nonzero on failure.
int put_sockets(nl_msg* m, const std::vector<int>& fds) {
  nlattr* sockets = nla_nest_start(m, NBD_ATTR_SOCKETS);
  if (!sockets) return -1;
  int rc = 0;
  for (int fd : fds) {
    nlattr* item = nla_nest_start(m, NBD_SOCK_ITEM);
    if (!item) return -1;
    rc |= nla_put_u32(m, NBD_SOCK_FD, static_cast<std::uint32_t>(fd));
    nla_nest_end(m, item);
  }
  nla_nest_end(m, sockets);
  return rc;
}

}  // namespace

std::error_code connect_device(Genl& g, const AttachRequest& r, std::uint32_t& index) {
  NlMsg msg = new_request(g, NBD_CMD_CONNECT);
  if (!msg) return put_failed();
  nl_msg* m = msg.get();
  int rc = 0;
  if (r.index) rc |= nla_put_u32(m, NBD_ATTR_INDEX, *r.index);
  rc |= nla_put_u64(m, NBD_ATTR_SIZE_BYTES, r.size_bytes);
  rc |= nla_put_u64(m, NBD_ATTR_BLOCK_SIZE_BYTES, r.block_size);
  rc |= nla_put_u64(m, NBD_ATTR_TIMEOUT, r.timeout_seconds);
  rc |= nla_put_u64(m, NBD_ATTR_SERVER_FLAGS, r.flags);
  if (r.dead_conn_timeout_seconds)
    rc |= nla_put_u64(m, NBD_ATTR_DEAD_CONN_TIMEOUT, r.dead_conn_timeout_seconds);
  if (!r.backend_id.empty()) rc |= nla_put_string(m, NBD_ATTR_BACKEND_IDENTIFIER, r.backend_id.c_str());
  rc |= put_sockets(m, r.sockets);
  if (rc != 0) return put_failed();

  // The reply carrying NBD_ATTR_INDEX comes before the ACK (docs/nbd-protocol.md §5.3).
  std::optional<std::uint32_t> got;
  auto ec = transact(g, std::move(msg), [&](nlattr* const* attrs) {
    if (attrs[NBD_ATTR_INDEX]) got = nla_get_u32(attrs[NBD_ATTR_INDEX]);
  });
  if (ec) return ec;
  if (!got && !r.index) {
    log::error("nbd: CONNECT succeeded but the kernel named no device");
    return attach_errc::netlink_failure;
  }
  index = got.value_or(r.index.value_or(0));
  return {};
}

namespace {

std::error_code simple(Genl& g, std::uint8_t command, std::uint32_t index,
                       std::optional<std::uint64_t> size = {}, const std::string& backend = {}) {
  NlMsg msg = new_request(g, command);
  if (!msg) return put_failed();
  int rc = nla_put_u32(msg.get(), NBD_ATTR_INDEX, index);
  if (size) rc |= nla_put_u64(msg.get(), NBD_ATTR_SIZE_BYTES, *size);
  if (!backend.empty()) rc |= nla_put_string(msg.get(), NBD_ATTR_BACKEND_IDENTIFIER, backend.c_str());
  if (rc != 0) return put_failed();
  return transact(g, std::move(msg));
}

}  // namespace

std::error_code resize(Genl& g, std::uint32_t index, std::uint64_t size_bytes, const std::string& backend_id) {
  return simple(g, NBD_CMD_RECONFIGURE, index, size_bytes, backend_id);
}

std::error_code reconnect(Genl& g, std::uint32_t index, const std::vector<int>& sockets, const std::string& backend_id) {
  NlMsg msg = new_request(g, NBD_CMD_RECONFIGURE);
  if (!msg) return put_failed();
  int rc = nla_put_u32(msg.get(), NBD_ATTR_INDEX, index);
  if (!backend_id.empty()) rc |= nla_put_string(msg.get(), NBD_ATTR_BACKEND_IDENTIFIER, backend_id.c_str());
  rc |= put_sockets(msg.get(), sockets);
  if (rc != 0) return put_failed();
  return transact(g, std::move(msg));
}

std::error_code set_timeouts(Genl& g, std::uint32_t index, std::uint64_t request_seconds,
                             std::uint64_t dead_conn_seconds, const std::string& backend_id) {
  NlMsg msg = new_request(g, NBD_CMD_RECONFIGURE);
  if (!msg) return put_failed();
  int rc = nla_put_u32(msg.get(), NBD_ATTR_INDEX, index);
  if (!backend_id.empty()) rc |= nla_put_string(msg.get(), NBD_ATTR_BACKEND_IDENTIFIER, backend_id.c_str());
  rc |= nla_put_u64(msg.get(), NBD_ATTR_TIMEOUT, request_seconds);
  rc |= nla_put_u64(msg.get(), NBD_ATTR_DEAD_CONN_TIMEOUT, dead_conn_seconds);
  if (rc != 0) return put_failed();
  return transact(g, std::move(msg));
}

std::error_code disconnect(Genl& g, std::uint32_t index) { return simple(g, NBD_CMD_DISCONNECT, index); }

DeviceStatus status(Genl& g, std::uint32_t index, std::error_code& ec) {
  DeviceStatus result = DeviceStatus::missing;
  NlMsg msg = new_request(g, NBD_CMD_STATUS);
  if (!msg || nla_put_u32(msg.get(), NBD_ATTR_INDEX, index) != 0) {
    ec = put_failed();
    return result;
  }
  // Reply: DEVICE_LIST { DEVICE_ITEM { DEVICE_INDEX, DEVICE_CONNECTED } }, empty if no such device.
  ec = transact(g, std::move(msg), [&](nlattr* const* attrs) {
    nlattr* list = attrs[NBD_ATTR_DEVICE_LIST];
    if (!list) return;
    int rem = nla_len(list);
    for (auto* item = static_cast<nlattr*>(nla_data(list)); nla_ok(item, rem); item = nla_next(item, &rem)) {
      nlattr* dev[NBD_DEVICE_ATTR_MAX + 1] = {};
      if (nla_parse_nested(dev, NBD_DEVICE_ATTR_MAX, item, nullptr) != 0 || !dev[NBD_DEVICE_INDEX] ||
          nla_get_u32(dev[NBD_DEVICE_INDEX]) != index)
        continue;
      const bool connected = dev[NBD_DEVICE_CONNECTED] && nla_get_u8(dev[NBD_DEVICE_CONNECTED]) != 0;
      result = connected ? DeviceStatus::connected : DeviceStatus::disconnected;
    }
  });
  return result;
}

}  // namespace aoe::nbd::netlink
