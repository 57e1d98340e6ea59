#include "initiator/packet_link.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>
#include <cerrno>
#include <cstring>
#include <utility>

#include <boost/asio/post.hpp>

#include "initiator/errors.h"
#include "base/log.h"
#include "initiator/send_batch.h"
#include "initiator/socket_buffer.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23  // Linux 4.20
#endif

namespace aoe {
namespace {

// Generous socket buffers: a window of jumbo frames across several targets
// must not overflow while the io_context thread is busy elsewhere.
constexpr int socket_buffer_bytes = 4 << 20;
// recvmmsg calls per wake-up before yielding to other work on the io_context.
constexpr int max_calls_per_wakeup = 4;

std::error_code last_error() { return {errno, std::system_category()}; }

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

// Reads the interface's MTU and MAC, filters the socket for that MAC, then
// binds it to the interface and EtherType: the socket was created without a
// protocol, so it queues nothing until now, and nothing unfiltered.
std::error_code bind_to(int fd, LinkInfo& info, std::optional<filter::Target> only, bool control_only = false) {
  if (auto ec = read_interface(fd, info)) return ec;
  if (auto ec = filter::attach(fd, filter::program(info.mac, only, control_only))) return ec;
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(wire::ethertype);
  addr.sll_ifindex = info.ifindex;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return errno == ENODEV ? make_error_code(errc::interface_not_found) : last_error();
  return {};
}

// The receive ring's slot for a frame of the interface's MTU, with room
// for the kernel's header and address before it (80 bytes for TPACKET_V2,
// 128 to leave room for a VLAN tag and later kernels); ring_layout()
// rounds it to TPACKET_ALIGNMENT: 1648 bytes at MTU 1500, 9152 at 9000.
std::size_t ring_slot_bytes(unsigned mtu) { return 128 + std::min(mtu, max_mtu) + wire::eth_header_size; }

// The ring for `wanted` slots (0: the most), never more than ring_bytes
// holds in blocks of 64 KiB (PacketLink::ring_bytes).
RingLayout ring_layout_for(unsigned mtu, std::size_t wanted) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const RingLayout one = ring_layout(ring_slot_bytes(mtu), 1, page);
  const std::size_t block = std::max(ring_max_block_bytes, one.block_size);
  const std::size_t most = std::max<std::size_t>(1, PacketLink::ring_bytes / block) * (block / one.frame_size);
  return ring_layout(ring_slot_bytes(mtu), wanted == 0 ? most : std::min(wanted, most), page);
}

}  // namespace

std::error_code PacketLink::reopen() {
  LinkInfo now = info_;
  now.ifindex = static_cast<int>(::if_nametoindex(now.name.c_str()));
  if (now.ifindex == 0) return errc::interface_not_found;
  auto ec = now.ifindex != info_.ifindex ? bind_to(socket_.native_handle(), now, only_, control_only_)
                                         : read_interface(socket_.native_handle(), now);
  if (ec) return ec;
  if (now.ifindex != info_.ifindex || now.mtu != info_.mtu || now.mac != info_.mac)
    log::info("{}: now ifindex {}, mtu {}, mac {}", now.name, now.ifindex, now.mtu, wire::format_mac(now.mac));
  const bool new_mac = now.mac != info_.mac && now.ifindex == info_.ifindex;
  const bool new_slots = ring_memory_ && ring_layout_for(now.mtu, ring_wanted_).frame_size != ring_.layout().frame_size;
  info_ = std::move(now);
  if (new_mac) apply_filter();  // bind_to filtered a re-created interface already
  // Frames of the new MTU would not fit the ring's slots (or waste them).
  // Called from the rtnetlink handler, never while the ring is walked.
  if (new_slots) remake_ring();
  return {};
}

void PacketLink::expect_in_flight(unsigned frames) {
  const std::size_t wanted = std::max(min_ring_frames, std::size_t{ring_frames_per_frame_in_flight} * frames);
  if (wanted == ring_wanted_) return;
  ring_wanted_ = wanted;
  // Posted: the engine learns its windows from answers that its receiver
  // is handed in the ring, which must stay mapped until the walk is over.
  boost::asio::post(socket_.get_executor(), [this, alive = alive_] {
    if (*alive && ring_memory_ && ring_layout_for(info_.mtu, ring_wanted_).frames() != ring_.frame_count())
      remake_ring();
  });
}

// A new ring (for a new MTU or window).  What the old one holds is handed
// over first: an engine that sizes the ring as its first requests go out
// would otherwise lose their answers and wait an RTO for each.  Frames that
// arrive between the two rings are still lost (the socket queues them, and
// the kernel drops that queue when the new ring is set up): the engine
// resends them.
void PacketLink::remake_ring() {
  receive_waiting();
  unmap_ring();
  map_ring();
  if (!ring_memory_ && !batch_) batch_ = std::make_unique<ReceiveBatch>();
}

void PacketLink::accept_control_only() {
  if (control_only_) return;
  control_only_ = true;
  apply_filter();
}

void PacketLink::accept_only(std::uint16_t shelf, std::uint8_t slot) {
  filter::Target target{shelf, slot};
  if (only_ == target) return;
  only_ = target;
  apply_filter();
}

// Without a filter the user-space checks still hold (the engine's and
// Control's matching, the OTHERHOST drop): only the cost is higher.
void PacketLink::apply_filter() {
  if (auto ec = filter::attach(socket_.native_handle(), filter::program(info_.mac, only_, control_only_)))
    log::warning("{}: cannot attach the kernel frame filter: {}", info_.name, ec.message());
}

struct PacketLink::ReceiveBatch {
  std::array<mmsghdr, receive_batch> messages{};
  std::array<iovec, receive_batch> vectors{};
  std::array<sockaddr_ll, receive_batch> senders{};
  std::vector<std::byte> frames = std::vector<std::byte>(receive_batch * max_frame_size);

  ReceiveBatch() {
    for (unsigned i = 0; i < receive_batch; ++i) {
      vectors[i] = {frames.data() + i * max_frame_size, max_frame_size};
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_name = &senders[i];
    }
    rearm(receive_batch);
  }
  // recvmmsg writes the lengths back: reset them before each call.
  void rearm(unsigned count) {
    for (unsigned i = 0; i < count; ++i) messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_ll);
  }
};

struct PacketLink::SendBatch {
  std::array<mmsghdr, send_batch_size> messages{};
  std::array<std::array<iovec, 2>, send_batch_size> vectors{};
  std::array<bool, send_batch_size> sent{};
};

std::unique_ptr<PacketLink> PacketLink::open(boost::asio::io_context& io, const std::string& ifname,
                                             std::error_code& ec, PacketLinkOptions options) {
  LinkInfo info;
  info.name = ifname;
  info.ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (ifname.size() >= IFNAMSIZ || info.ifindex == 0) {
    ec = errc::interface_not_found;
    return nullptr;
  }
  const std::uint16_t protocol = htons(wire::ethertype);
  // Protocol 0: nothing is received until bind_to() has attached the filter.
  int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = (errno == EPERM || errno == EACCES) ? make_error_code(errc::permission_denied) : last_error();
    return nullptr;
  }
  std::unique_ptr<PacketLink> link(new PacketLink(io, std::move(info)));
  boost::system::error_code assign_error;
  link->socket_.assign(boost::asio::generic::raw_protocol(AF_PACKET, protocol), fd, assign_error);
  if (assign_error) {
    ec = assign_error;
    ::close(fd);
    return nullptr;
  }
  // The ring before the bind: no frame is queued outside it.
  if (auto read = read_interface(fd, link->info_); !read && options.receive_ring) link->map_ring();
  if (!link->ring_memory_) link->batch_ = std::make_unique<ReceiveBatch>();
  ec = bind_to(fd, link->info_, std::nullopt);
  if (ec) return nullptr;
  // Not an error when missing (before Linux 4.20): drain() skips them too.
  int one = 1;
  ::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  // Without it (before Linux 3.14) frames pass the qdisc: slower, the same frames.
  if (options.bypass_qdisc && ::setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0)
    log::debug("{}: cannot bypass the qdisc: {}", ifname, std::strerror(errno));
  set_socket_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, socket_buffer_bytes);
  set_socket_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, socket_buffer_bytes);

  log::debug("{}: AF_PACKET link open, ifindex {}, mtu {}, mac {}, {}", link->info_.name, link->info_.ifindex,
             link->info_.mtu, wire::format_mac(link->info_.mac),
             link->ring_memory_ ? "receiving through a ring" : "receiving with recvmmsg");
  return link;
}

PacketLink::PacketLink(boost::asio::io_context& io, LinkInfo info)
    : socket_(io), info_(std::move(info)), send_batch_(std::make_unique<SendBatch>()) {}

PacketLink::~PacketLink() {
  *alive_ = false;
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (ring_memory_) ::munmap(ring_memory_, ring_.layout().bytes());
}

// Sets up the socket's receive ring (TPACKET_V2, initiator/rx_ring.h) with
// slots for the interface's MTU, as many as wanted, and maps it.  When it
// cannot be had (no memory, a kernel without it) the link receives with
// recvmmsg: slower, the same frames.
void PacketLink::map_ring() {
  const RingLayout layout = ring_layout_for(info_.mtu, ring_wanted_);
  const int fd = socket_.native_handle();
  int version = TPACKET_V2;
  tpacket_req req{};
  req.tp_block_size = static_cast<unsigned>(layout.block_size);
  req.tp_block_nr = static_cast<unsigned>(layout.block_count);
  req.tp_frame_size = static_cast<unsigned>(layout.frame_size);
  req.tp_frame_nr = static_cast<unsigned>(layout.frames());
  void* memory = MAP_FAILED;
  if (::setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) == 0 &&
      ::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) == 0) {
    memory = ::mmap(nullptr, layout.bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) {
      const int error = errno;
      req = {};  // frees the ring: the socket queues frames again
      ::setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req);
      errno = error;
    }
  }
  if (memory == MAP_FAILED) {
    log::info("{}: no receive ring ({}): receiving with recvmmsg", info_.name, std::strerror(errno));
    return;
  }
  ring_memory_ = memory;
  ring_ = RxRing(std::span(static_cast<std::byte*>(memory), layout.bytes()), layout, max_frame_size);
  log::debug("{}: receive ring of {} slots of {} bytes, {} KiB", info_.name, layout.frames(), layout.frame_size,
             layout.bytes() >> 10);
}

// Frees the ring; frames in it and not yet walked are lost (the engine
// retransmits), and until map_ring() the socket queues frames as usual.
void PacketLink::unmap_ring() {
  if (!ring_memory_) return;
  ::munmap(ring_memory_, ring_.layout().bytes());
  ring_memory_ = nullptr;
  ring_ = RxRing();
  tpacket_req req{};
  ::setsockopt(socket_.native_handle(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req);
}

bool PacketLink::send(std::span<const std::byte> head, std::span<const std::byte> body) noexcept {
  Outgoing frame{head, body};
  send_batch(std::span(&frame, 1));
  return frame.sent;
}

void PacketLink::send_batch(std::span<Outgoing> frames) noexcept {
  SendBatch& b = *send_batch_;
  const int fd = socket_.native_handle();
  for (std::size_t first = 0; first < frames.size(); first += send_batch_size) {
    const auto count = std::min<std::size_t>(send_batch_size, frames.size() - first);
    for (std::size_t i = 0; i < count; ++i) {
      const Outgoing& f = frames[first + i];
      // sendmmsg only reads the iovecs; the const_cast is the C API's.
      b.vectors[i] = {iovec{const_cast<std::byte*>(f.head.data()), f.head.size()},
                      iovec{const_cast<std::byte*>(f.body.data()), f.body.size()}};
      // Bound socket: no address needed, the frame carries its own MACs.
      b.messages[i].msg_hdr = msghdr{};
      b.messages[i].msg_hdr.msg_iov = b.vectors[i].data();
      b.messages[i].msg_hdr.msg_iovlen = f.body.empty() ? 1 : 2;
    }
    const std::size_t went = send_messages(std::span(b.messages).first(count), std::span(b.sent).first(count),
                                           [fd](mmsghdr* messages, unsigned n) {
                                             int sent = ::sendmmsg(fd, messages, n, MSG_DONTWAIT);
                                             return sent < 0 ? -errno : sent;
                                           });
    for (std::size_t i = 0; i < count; ++i) frames[first + i].sent = b.sent[i];
    send_drops_ += count - went;
  }
}

void PacketLink::set_receiver(Receiver receiver) {
  receiver_ = std::move(receiver);
  if (!receiving_) {
    receiving_ = true;
    wait_readable();
  }
}

// Everything waiting, not one wake-up's walk: a process that did not run
// for a while may hold more than that.  Bounded, so that a flood cannot
// keep the caller here; the wake-up already waiting takes the rest.
void PacketLink::receive_waiting() {
  constexpr int max_drains = 64;
  if (!receiving_ || draining_) return;  // from inside the receiver: the drain under way takes them
  for (int i = 0; i < max_drains && drain(); ++i) {
  }
}

std::uint64_t PacketLink::receive_drops() noexcept {
  tpacket_stats stats{};
  socklen_t size = sizeof stats;
  if (::getsockopt(socket_.native_handle(), SOL_PACKET, PACKET_STATISTICS, &stats, &size) == 0)
    receive_drops_ += stats.tp_drops;
  return receive_drops_;
}

void PacketLink::wait_readable() {
  socket_.async_wait(boost::asio::socket_base::wait_read,
                     [this, alive = alive_](const boost::system::error_code& ec) {
                       if (!*alive || ec == boost::asio::error::operation_aborted) return;
                       if (ec) log::warning("{}: receive wait failed: {}", info_.name, ec.message());
                       if (drain())
                         resume_soon();
                       else
                         wait_readable();
                     });
}

// Frames are left after a drain that stopped at its limit: they are taken
// right after the work queued meanwhile, not at the next frame's wake-up.
void PacketLink::resume_soon() {
  boost::asio::post(socket_.get_executor(), [this, alive = alive_] {
    if (!*alive) return;
    if (drain())
      resume_soon();
    else
      wait_readable();
  });
}

bool PacketLink::drain_ring() {
  const std::size_t walked = ring_.walk(ring_walk_limit, [this](std::span<const std::byte> frame) {
    if (receiver_) receiver_(frame);
  });
  if (walked == 0) take_socket_error();
  return walked == ring_walk_limit;
}

// A wake-up with no frame in the ring: the socket may hold an error (the
// interface went down: ENETDOWN), which recvmmsg would have returned and
// cleared.  Left there it would wake every wait at once, for ever, and fail
// the first send after the link comes back; reading SO_ERROR clears it.
void PacketLink::take_socket_error() {
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error != 0)
    log::warning("{}: receive failed: {}", info_.name, std::strerror(error));
}

bool PacketLink::drain() {
  draining_ = true;
  const bool more = ring_memory_ ? drain_ring() : drain_socket();
  draining_ = false;
  return more;
}

bool PacketLink::drain_socket() {
  ReceiveBatch& b = *batch_;
  for (int call = 0; call < max_calls_per_wakeup; ++call) {
    // MSG_TRUNC in the flags: msg_len is the frame's real length, so a frame
    // longer than our buffer is recognised (and dropped), never half-read.
    int n = ::recvmmsg(socket_.native_handle(), b.messages.data(), receive_batch, MSG_DONTWAIT | MSG_TRUNC,
                       nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        log::warning("{}: receive failed: {}", info_.name, std::strerror(errno));
      return false;
    }
    for (int i = 0; i < n; ++i) {
      const mmsghdr& m = b.messages[static_cast<unsigned>(i)];
      const unsigned char type = b.senders[static_cast<unsigned>(i)].sll_pkttype;
      if (type == PACKET_OUTGOING || type == PACKET_OTHERHOST || m.msg_len > max_frame_size || !receiver_)
        continue;
      receiver_(std::span<const std::byte>(b.frames.data() + static_cast<std::size_t>(i) * max_frame_size, m.msg_len));
    }
    b.rearm(static_cast<unsigned>(n));
    if (n < static_cast<int>(receive_batch)) return false;  // the queue is empty
  }
  return true;
}

}  // namespace aoe
