// interfaces.h: the local network interfaces, listed and watched through
// rtnetlink (libnl-route), and the -i selection among them (the kernel
// driver's aoe_iflist).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "initiator/wire.h"

namespace aoe::discovery {

struct Interface {
  std::string name;
  int ifindex = 0;
  wire::Mac mac{};
  unsigned mtu = 0;
  bool up = false;        // administratively up (IFF_UP)
  bool carrier = false;   // lower layer up (IFF_LOWER_UP)
  bool ethernet = false;  // ARPHRD_ETHER (loopback is not)
};

// Every local interface, in ifindex order.
std::vector<Interface> list_interfaces(std::error_code& ec);

// "-i a,b -i c" -> {a, b, c}: splits on commas, drops empties and repeats.
std::vector<std::string> split_interface_names(const std::vector<std::string>& args);

struct Selection {
  std::vector<Interface> interfaces;
  std::error_code error;   // errc::interface_not_found
  std::string message;     // names the culprit when error is set
};

// With no names, every up Ethernet interface; otherwise exactly the named
// ones, each of which must exist (loopback and other links too: naming one
// is asking for it, like the kernel's aoe_iflist).
Selection select_interfaces(const std::vector<Interface>& all, const std::vector<std::string>& names);

// A change of one interface's state, as rtnetlink announces it.
struct LinkEvent {
  Interface interface;
  bool removed = false;
};

// Reports RTNLGRP_LINK notifications that change an interface's up, carrier
// or MTU state (or add or remove it), on the io_context thread.
class LinkWatcher {
 public:
  using Callback = std::function<void(const LinkEvent&)>;

  static std::unique_ptr<LinkWatcher> open(boost::asio::io_context& io, Callback callback,
                                           std::error_code& ec);
  virtual ~LinkWatcher() = default;
};

}  // namespace aoe::discovery
