#include "discovery/interfaces.h"

#include <linux/if.h>  // IFF_LOWER_UP, which net/if.h lacks
#include <net/if_arp.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "initiator/errors.h"
#include "base/log.h"

namespace aoe::discovery {
namespace {

// libnl's negative NLE_* codes as std::error_code.
class NetlinkCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libnl"; }
  std::string message(int value) const override { return nl_geterror(value); }
};

std::error_code netlink_error(int nl_code) {
  static const NetlinkCategory category;
  return {nl_code < 0 ? -nl_code : nl_code, category};
}

Interface to_interface(rtnl_link* link) {
  Interface i;
  i.name = rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "";
  i.ifindex = rtnl_link_get_ifindex(link);
  i.mtu = rtnl_link_get_mtu(link);
  unsigned flags = rtnl_link_get_flags(link);
  i.up = (flags & IFF_UP) != 0;
  i.carrier = (flags & IFF_LOWER_UP) != 0;
  i.ethernet = rtnl_link_get_arptype(link) == ARPHRD_ETHER;
  if (nl_addr* addr = rtnl_link_get_addr(link); addr && nl_addr_get_len(addr) == i.mac.size())
    std::memcpy(i.mac.data(), nl_addr_get_binary_addr(addr), i.mac.size());
  return i;
}

struct SocketDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using Socket = std::unique_ptr<nl_sock, SocketDeleter>;

bool same_state(const Interface& a, const Interface& b) {
  return a.name == b.name && a.up == b.up && a.carrier == b.carrier && a.mtu == b.mtu;
}

class NetlinkWatcher final : public LinkWatcher {
 public:
  NetlinkWatcher(boost::asio::io_context& io, Socket socket, Callback callback)
      : socket_(std::move(socket)), descriptor_(io, nl_socket_get_fd(socket_.get())),
        callback_(std::move(callback)) {}

  ~NetlinkWatcher() override {
    *alive_ = false;
    descriptor_.release();  // the fd belongs to the libnl socket
  }

  std::error_code start() {
    nl_socket_disable_seq_check(socket_.get());
    nl_socket_modify_cb(socket_.get(), NL_CB_VALID, NL_CB_CUSTOM, &NetlinkWatcher::on_message, this);
    if (int rc = nl_socket_add_membership(socket_.get(), RTNLGRP_LINK); rc < 0) return netlink_error(rc);
    if (int rc = nl_socket_set_nonblocking(socket_.get()); rc < 0) return netlink_error(rc);
    if (auto ec = resync()) return ec;
    wait();
    return {};
  }

 private:
  struct Message {
    NetlinkWatcher* self;
    bool removed;
  };

  static int on_message(nl_msg* msg, void* arg) {
    Message m{static_cast<NetlinkWatcher*>(arg), nlmsg_hdr(msg)->nlmsg_type == RTM_DELLINK};
    nl_msg_parse(msg, &NetlinkWatcher::on_object, &m);
    return NL_OK;
  }

  static void on_object(nl_object* object, void* arg) {
    auto* m = static_cast<Message*>(arg);
    m->self->update(to_interface(reinterpret_cast<rtnl_link*>(object)), m->removed);
  }

  void update(const Interface& now, bool removed) {
    auto it = known_.find(now.ifindex);
    if (removed) {
      if (it == known_.end()) return;
      known_.erase(it);
    } else if (it == known_.end() || !same_state(it->second, now)) {
      known_[now.ifindex] = now;
    } else {
      return;  // rtnetlink repeats unchanged state often
    }
    if (callback_) callback_(LinkEvent{now, removed});
  }

  // Seeds the known state, or catches up after the kernel dropped
  // notifications on an overflowing socket.
  std::error_code resync() {
    std::error_code ec;
    auto all = list_interfaces(ec);
    if (ec) return ec;
    std::map<int, Interface> gone = known_;
    for (const Interface& i : all) {
      gone.erase(i.ifindex);
      if (seeded_) update(i, false);
      else known_[i.ifindex] = i;
    }
    for (const auto& [index, i] : gone) update(i, true);
    seeded_ = true;
    return {};
  }

  void wait() {
    descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                           [this, alive = alive_](const boost::system::error_code& ec) {
                             if (!*alive || ec == boost::asio::error::operation_aborted) return;
                             int rc;
                             while ((rc = nl_recvmsgs_default(socket_.get())) > 0) {
                             }
                             if (rc < 0) {
                               log::warning("link watcher: {}; rescanning interfaces",
                                            nl_geterror(rc));
                               if (auto e = resync()) log::warning("link watcher: {}", e.message());
                             }
                             wait();
                           });
  }

  Socket socket_;
  boost::asio::posix::stream_descriptor descriptor_;
  Callback callback_;
  std::map<int, Interface> known_;  // by ifindex
  bool seeded_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards late handlers
};

}  // namespace

std::vector<Interface> list_interfaces(std::error_code& ec) {
  std::vector<Interface> out;
  Socket socket(nl_socket_alloc());
  if (!socket) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return out;
  }
  nl_cache* cache = nullptr;
  if (int rc = nl_connect(socket.get(), NETLINK_ROUTE); rc < 0) {
    ec = netlink_error(rc);
    return out;
  }
  if (int rc = rtnl_link_alloc_cache(socket.get(), AF_UNSPEC, &cache); rc < 0) {
    ec = netlink_error(rc);
    return out;
  }
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
    out.push_back(to_interface(reinterpret_cast<rtnl_link*>(o)));
  nl_cache_free(cache);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ifindex < b.ifindex; });
  ec.clear();
  return out;
}

std::vector<std::string> split_interface_names(const std::vector<std::string>& args) {
  std::vector<std::string> names;
  for (const std::string& arg : args) {
    std::size_t start = 0;
    while (start <= arg.size()) {
      std::size_t end = std::min(arg.find(',', start), arg.size());
      std::string name = arg.substr(start, end - start);
      if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(std::move(name));
      start = end + 1;
    }
  }
  return names;
}

Selection select_interfaces(const std::vector<Interface>& all, const std::vector<std::string>& names) {
  Selection s;
  if (names.empty()) {
    for (const Interface& i : all)
      if (i.up && i.ethernet) s.interfaces.push_back(i);
    return s;
  }
  for (const std::string& name : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Interface& i) { return i.name == name; });
    if (it == all.end()) {
      s.error = errc::interface_not_found;
      s.message = "no such network interface: " + name;
      s.interfaces.clear();
      return s;
    }
    s.interfaces.push_back(*it);
  }
  return s;
}

std::unique_ptr<LinkWatcher> LinkWatcher::open(boost::asio::io_context& io, Callback callback,
                                               std::error_code& ec) {
  Socket socket(nl_socket_alloc());
  if (!socket) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
  if (int rc = nl_connect(socket.get(), NETLINK_ROUTE); rc < 0) {
    ec = netlink_error(rc);
    return nullptr;
  }
  auto watcher = std::make_unique<NetlinkWatcher>(io, std::move(socket), std::move(callback));
  if ((ec = watcher->start())) return nullptr;
  return watcher;
}

}  // namespace aoe::discovery
