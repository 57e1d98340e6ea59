#include "initiator/packet_link.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "initiator/errors.h"
#include "initiator/log.h"

namespace aoe {
namespace {

// Generous socket buffers: a window of jumbo frames across several targets
// must not overflow while the io_context thread is busy elsewhere.
constexpr int socket_buffer_bytes = 4 << 20;
// Frames handled per wake-up before yielding to other work on the io_context.
constexpr int max_batch = 64;

std::error_code last_error() { return {errno, std::system_category()}; }

// Root may exceed net.core.{r,w}mem_max; otherwise take what the limit allows.
void set_buffer(int fd, int force_option, int option) {
  int bytes = socket_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
}

// MTU and MAC address of the interface (vblade's getmtu / getea).
std::error_code read_interface(int fd, LinkInfo& info) {
  ifreq req{};
  std::strncpy(req.ifr_name, info.name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, SIOCGIFMTU, &req) != 0) return last_error();
  info.mtu = static_cast<unsigned>(req.ifr_mtu);
  if (::ioctl(fd, SIOCGIFHWADDR, &req) != 0) return last_error();
  std::memcpy(info.mac.data(), req.ifr_hwaddr.sa_data, info.mac.size());
  return {};
}

}  // namespace

std::unique_ptr<PacketLink> PacketLink::open(boost::asio::io_context& io, const std::string& ifname,
                                             std::error_code& ec) {
  LinkInfo info;
  info.name = ifname;
  info.ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (ifname.size() >= IFNAMSIZ || info.ifindex == 0) {
    ec = errc::interface_not_found;
    return nullptr;
  }
  const std::uint16_t protocol = htons(wire::ethertype);
  int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    ec = (errno == EPERM || errno == EACCES) ? make_error_code(errc::permission_denied) : last_error();
    return nullptr;
  }
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = protocol;
  addr.sll_ifindex = info.ifindex;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    ec = errno == ENODEV ? make_error_code(errc::interface_not_found) : last_error();
  else
    ec = read_interface(fd, info);
  if (ec) {
    ::close(fd);
    return nullptr;
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);

  std::unique_ptr<PacketLink> link(new PacketLink(io, std::move(info)));
  boost::system::error_code assign_error;
  link->socket_.assign(boost::asio::generic::raw_protocol(AF_PACKET, protocol), fd, assign_error);
  if (assign_error) {
    ec = assign_error;
    ::close(fd);
    return nullptr;
  }
  log::debug("{}: AF_PACKET link open, ifindex {}, mtu {}, mac {}", link->info_.name,
             link->info_.ifindex, link->info_.mtu, wire::format_mac(link->info_.mac));
  return link;
}

PacketLink::PacketLink(boost::asio::io_context& io, LinkInfo info)
    : socket_(io), info_(std::move(info)) {}

PacketLink::~PacketLink() {
  *alive_ = false;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

bool PacketLink::send(std::span<const std::byte> head, std::span<const std::byte> body) noexcept {
  // sendmsg only reads the iovecs; the const_cast is the C API's.
  iovec iov[2] = {{const_cast<std::byte*>(head.data()), head.size()},
                  {const_cast<std::byte*>(body.data()), body.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = body.empty() ? 1 : 2;
  // Bound socket: no address needed, the frame carries its own MACs.
  if (::sendmsg(socket_.native_handle(), &msg, MSG_DONTWAIT) < 0) {
    // EAGAIN/ENOBUFS: the queue is full, a loss the sender's retransmit covers;
    // anything else (ENETDOWN, ENXIO) is treated the same way.
    ++send_drops_;
    return false;
  }
  return true;
}

void PacketLink::set_receiver(Receiver receiver) {
  receiver_ = std::move(receiver);
  if (!receiving_) {
    receiving_ = true;
    wait_readable();
  }
}

void PacketLink::wait_readable() {
  socket_.async_wait(boost::asio::socket_base::wait_read,
                     [this, alive = alive_](const boost::system::error_code& ec) {
                       if (!*alive || ec == boost::asio::error::operation_aborted) return;
                       if (ec) log::warning("{}: receive wait failed: {}", info_.name, ec.message());
                       drain();
                       wait_readable();
                     });
}

void PacketLink::drain() {
  for (int i = 0; i < max_batch; ++i) {
    sockaddr_ll from{};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(socket_.native_handle(), buffer_.data(), buffer_.size(),
                           MSG_DONTWAIT | MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        log::warning("{}: receive failed: {}", info_.name, std::strerror(errno));
      return;
    }
    // Our own sends come back as PACKET_OUTGOING; oversized frames were cut.
    if (from.sll_pkttype == PACKET_OUTGOING || static_cast<std::size_t>(n) > buffer_.size() ||
        !receiver_)
      continue;
    receiver_(std::span<const std::byte>(buffer_.data(), static_cast<std::size_t>(n)));
  }
}

}  // namespace aoe
