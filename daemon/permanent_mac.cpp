#include "daemon/permanent_mac.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace aoe::daemon {

std::optional<wire::Mac> permanent_mac(const std::string& interface) {
  if (interface.empty() || interface.size() >= IFNAMSIZ) return std::nullopt;
  // Any socket reaches the device ioctls; a unix one needs no address family
  // that an initramfs might lack.
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  // struct ethtool_perm_addr ends in a flexible array: room for any address.
  alignas(ethtool_perm_addr) unsigned char buffer[sizeof(ethtool_perm_addr) + 32] = {};
  auto* request = reinterpret_cast<ethtool_perm_addr*>(buffer);
  request->cmd = ETHTOOL_GPERMADDR;
  request->size = 32;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, interface.data(), interface.size());
  ifr.ifr_data = reinterpret_cast<char*>(buffer);
  const int rc = ::ioctl(fd, SIOCETHTOOL, &ifr);
  ::close(fd);
  wire::Mac mac{};
  if (rc != 0 || request->size != mac.size()) return std::nullopt;
  std::memcpy(mac.data(), buffer + sizeof(ethtool_perm_addr), mac.size());
  if (std::all_of(mac.begin(), mac.end(), [](auto b) { return b == decltype(b){0}; })) return std::nullopt;
  return mac;
}

}  // namespace aoe::daemon
