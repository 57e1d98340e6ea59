// raw-pump: the reference ceiling for the benchmark (scripts/bench).
//
// A minimal AoE initiator on one plain AF_PACKET socket: find the target
// with a Query Config, learn its size with IDENTIFY, then keep a fixed number
// of ATA READ or WRITE frames of full payload outstanding and report MB/s,
// frames/s and round trips.  No engine, no NBD, no Asio: batched sends
// (sendmmsg) and receives (recvmmsg) into buffers allocated once, a plain
// timeout-and-resend and nothing else, so what it measures is what veth and
// the target allow.  It uses the project's codec (initiator/wire.h).
//
//   raw-pump -i eth0 [-t e1.2] --op read|write [--pattern seq|rand]
//            [--bs BYTES] [--depth N] [--window N] [--bytes N] [--seconds S]
//
// seq:  ops of one full-payload frame over a sequential range (wrapping at
//       the disk's end), --depth ops outstanding (default Buffer Count).
// rand: ops of --bs bytes (default 4096) at random --bs-aligned offsets,
//       each split into full-payload frames sent together; --depth ops
//       outstanding (default 1: the QD1 latency reference).
// Prints one "key=value ..." line on stdout (scripts/bench parses it).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "initiator/identify.h"
#include "initiator/socket_buffer.h"
#include "initiator/tag.h"
#include "initiator/wire.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23  // Linux 4.20
#endif

namespace {

using namespace aoe;
using wire::Mac;

constexpr std::size_t max_frame = 9216 + wire::eth_header_size;
constexpr unsigned batch = 64;           // frames per recvmmsg / sendmmsg
constexpr unsigned max_window = 1024;    // tag.h has 10 slot bits
constexpr unsigned max_frames_per_op = 64;

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "raw-pump: %s%s%s\n", what, errno ? ": " : "", errno ? std::strerror(errno) : "");
  std::exit(1);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: raw-pump -i IF [-t eS.L] --op read|write [--pattern seq|rand] [--bs BYTES]\n"
               "                [--depth N] [--window N] [--bytes N] [--seconds S] [--timeout-ms MS]\n");
  std::exit(2);
}

std::uint64_t parse_size(const char* s) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  std::uint64_t mul = 1;
  switch (end && *end ? *end : ' ') {
    case 'K': case 'k': mul = 1u << 10; break;
    case 'M': case 'm': mul = 1u << 20; break;
    case 'G': case 'g': mul = 1u << 30; break;
    default: break;
  }
  if (v < 0) usage();
  return static_cast<std::uint64_t>(v * static_cast<double>(mul));
}

struct Options {
  std::string ifname;
  std::string target;       // empty: the first that answers
  bool write = false;
  bool random = false;
  std::uint64_t bs = 0;     // 0: one payload (seq) or 4096 (rand)
  unsigned depth = 0;       // 0: Buffer Count (seq) or 1 (rand)
  unsigned window = 0;      // 0: Buffer Count
  std::uint64_t bytes = 1u << 30;
  double seconds = 60;      // hard bound; rand runs exactly this long
  unsigned timeout_ms = 200;
};

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_op = false, have_seconds = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "-i") o.ifname = value();
    else if (a == "-t") o.target = value();
    else if (a == "--op") { std::string v = value(); o.write = v == "write"; have_op = v == "read" || v == "write"; }
    else if (a == "--pattern") { std::string v = value(); o.random = v == "rand"; if (v != "seq" && v != "rand") usage(); }
    else if (a == "--bs") o.bs = parse_size(value());
    else if (a == "--depth") o.depth = static_cast<unsigned>(std::atoi(value()));
    else if (a == "--window") o.window = static_cast<unsigned>(std::atoi(value()));
    else if (a == "--bytes") o.bytes = parse_size(value());
    else if (a == "--seconds") { o.seconds = std::atof(value()); have_seconds = true; }
    else if (a == "--timeout-ms") o.timeout_ms = static_cast<unsigned>(std::atoi(value()));
    else usage();
  }
  if (o.ifname.empty() || !have_op) usage();
  if (o.random && !have_seconds) o.seconds = 10;
  return o;
}

// The socket, bound to one interface; our own sends are not looped back.
struct Socket {
  int fd = -1;
  int ifindex = 0;
  Mac mac{};
  unsigned mtu = 1500;

  explicit Socket(const std::string& ifname) {
    const std::uint16_t proto = htons(wire::ethertype);
    ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    if (ifindex == 0) die("no such interface");
    fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, proto);
    if (fd < 0) die("socket(AF_PACKET)");
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
    int one = 1;
    ::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    const int bytes = 4 << 20;  // as PacketLink, so both see the same queues
    aoe::set_socket_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, bytes);
    aoe::set_socket_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, bytes);
    ifreq req{};
    std::strncpy(req.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, SIOCGIFMTU, &req) != 0) die("SIOCGIFMTU");
    mtu = static_cast<unsigned>(req.ifr_mtu);
    if (::ioctl(fd, SIOCGIFHWADDR, &req) != 0) die("SIOCGIFHWADDR");
    std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, mac.size());
  }
  ~Socket() { ::close(fd); }

  // Waits up to ms for one frame; returns its length or 0.
  std::size_t receive(std::byte* buf, std::size_t size, int ms) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return 0;
    ssize_t n = ::recv(fd, buf, size, MSG_DONTWAIT);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
};

struct TargetPort {
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  Mac mac{};
  unsigned buffer_count = 0;
  unsigned max_sectors = 2;
  Identity identity;
};

// Query Config to the broadcast MAC, then IDENTIFY to the first matching port.
TargetPort find_target(const Socket& s, const Options& o) {
  TargetPort t;
  std::uint16_t want_shelf = wire::broadcast_shelf;
  std::uint8_t want_slot = wire::broadcast_slot;
  if (!o.target.empty() && !wire::parse_target(o.target, want_shelf, want_slot)) usage();
  std::vector<std::byte> buf(max_frame);
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    wire::Header h;
    h.dst = wire::broadcast_mac;
    h.src = s.mac;
    h.shelf = want_shelf;
    h.slot = want_slot;
    h.command = wire::Command::query_config;
    h.tag = tag::control(static_cast<std::uint32_t>(attempt));
    std::size_t n = wire::encode(h, wire::ConfigArg{}, buf);
    if (::send(s.fd, buf.data(), n, 0) < 0) die("send");
    const std::uint64_t until = now_ns() + 300'000'000;
    while (!found && now_ns() < until) {
      std::size_t got = s.receive(buf.data(), buf.size(), 50);
      wire::Frame f;
      if (got == 0 || wire::decode({buf.data(), got}, f) || !f.header.response || f.header.error ||
          f.header.command != wire::Command::query_config || f.header.tag != h.tag)
        continue;
      const auto& c = std::get<wire::ConfigArg>(f.arg);
      t.shelf = f.header.shelf;
      t.slot = f.header.slot;
      t.mac = f.header.src;
      t.buffer_count = c.buffer_count;
      t.max_sectors = c.max_sectors();
      found = true;
    }
  }
  if (!found) { errno = 0; die("no target answered Query Config"); }

  for (int attempt = 0; attempt < 10; ++attempt) {
    wire::Header h;
    h.dst = t.mac;
    h.src = s.mac;
    h.shelf = t.shelf;
    h.slot = t.slot;
    h.tag = tag::control(100u + static_cast<std::uint32_t>(attempt));
    std::size_t n = wire::encode(h, wire::ata_identify(), buf);
    if (::send(s.fd, buf.data(), n, 0) < 0) die("send");
    const std::uint64_t until = now_ns() + 300'000'000;
    while (now_ns() < until) {
      std::size_t got = s.receive(buf.data(), buf.size(), 50);
      wire::Frame f;
      if (got == 0 || wire::decode({buf.data(), got}, f) || f.header.tag != h.tag || f.header.error) continue;
      const auto& a = std::get<wire::AtaArg>(f.arg);
      if (a.data.size() < identify_size || parse_identify(a.data.first(identify_size), t.identity)) continue;
      return t;
    }
  }
  errno = 0;
  die("no IDENTIFY answer");
}

// One frame slot of the window; its index is the tag's slot field.
struct Slot {
  bool busy = false;
  std::uint32_t generation = 0;
  std::uint32_t op = 0;        // index into the op table
  std::uint64_t lba = 0;
  std::uint8_t sectors = 0;
  std::uint64_t first_sent = 0, last_sent = 0;
  std::array<std::byte, wire::min_frame_size> head{};  // encoded header (padded for reads)
};

struct Op {
  std::uint64_t start = 0;
  unsigned frames_left = 0;
};

struct PendingFrame {
  std::uint32_t op;
  std::uint64_t lba;
  std::uint8_t sectors;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  Socket sock(o.ifname);
  const TargetPort t = find_target(sock, o);
  const bool lba48 = t.identity.lba48;
  const std::uint64_t disk_sectors = t.identity.sectors;

  const unsigned by_mtu = sock.mtu > 36 ? (sock.mtu - 36) / 512 : 1;
  const unsigned payload = std::max(1u, std::min({t.max_sectors, by_mtu, 255u}));
  const unsigned bc = std::max(1u, t.buffer_count);
  const unsigned window = std::min(max_window, o.window ? o.window : bc);
  const std::uint64_t op_sectors = o.bs ? std::max<std::uint64_t>(1, o.bs / 512) : (o.random ? 8 : payload);
  const unsigned frames_per_op = static_cast<unsigned>((op_sectors + payload - 1) / payload);
  if (frames_per_op > max_frames_per_op || op_sectors > disk_sectors) { errno = 0; die("--bs too large"); }
  const unsigned depth = o.depth ? o.depth : (o.random ? 1 : window);
  const std::uint64_t total_ops =
      o.random ? ~std::uint64_t{0} : std::max<std::uint64_t>(1, o.bytes / (op_sectors * 512));

  // Everything the loop touches is allocated here, once.
  std::vector<Slot> slots(window);
  std::vector<Op> ops(depth);
  std::vector<std::uint32_t> free_ops(depth);
  for (unsigned i = 0; i < depth; ++i) free_ops[i] = depth - 1 - i;
  // Ring of frames of started ops still waiting for a slot: at most every
  // frame of `depth` ops.
  std::vector<PendingFrame> pending(std::size_t{depth} * frames_per_op);
  std::size_t pending_head = 0, pending_tail = 0;  // monotonic; index modulo size
  std::vector<std::uint32_t> free_slots(window);
  for (unsigned i = 0; i < window; ++i) free_slots[i] = window - 1 - i;
  std::vector<std::byte> data(std::size_t{payload} * 512);  // write payload, shared by every frame
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + 1);
  std::vector<std::uint32_t> latencies;  // op latencies in ns, for percentiles
  latencies.reserve(std::min<std::uint64_t>(total_ops, 4'000'000));
  std::vector<std::byte> rx(std::size_t{batch} * max_frame);
  std::array<mmsghdr, batch> rx_msgs{};
  std::array<iovec, batch> rx_iov{};
  for (unsigned i = 0; i < batch; ++i) {
    rx_iov[i] = {rx.data() + std::size_t{i} * max_frame, max_frame};
    rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
    rx_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  std::array<mmsghdr, batch> tx_msgs{};
  std::array<iovec, 2 * batch> tx_iov{};
  unsigned tx_count = 0;
  std::mt19937_64 rng(12345);
  const std::uint64_t rand_ops_in_disk = disk_sectors / op_sectors;

  std::uint64_t ops_started = 0, ops_done = 0, frames_done = 0, resends = 0, bad = 0, send_fail = 0;
  std::uint64_t rtt_sum = 0, next_seq_lba = 0, bytes_done = 0;
  const std::uint64_t timeout_ns = std::uint64_t{o.timeout_ms} * 1'000'000;

  auto flush_tx = [&] {
    unsigned sent = 0;
    while (sent < tx_count) {
      int n = ::sendmmsg(sock.fd, tx_msgs.data() + sent, tx_count - sent, 0);
      if (n <= 0) { ++send_fail; break; }  // lost: the timeout resends it
      sent += static_cast<unsigned>(n);
    }
    tx_count = 0;
  };
  auto queue_tx = [&](std::uint32_t index) {
    Slot& s = slots[index];
    s.generation = (s.generation + 1) & tag::generation_mask;
    wire::Header h;
    h.dst = t.mac;
    h.src = sock.mac;
    h.shelf = t.shelf;
    h.slot = t.slot;
    h.tag = tag::engine(index, s.generation);
    const auto arg = o.write ? wire::ata_write(s.lba, s.sectors, lba48) : wire::ata_read(s.lba, s.sectors, lba48);
    mmsghdr& m = tx_msgs[tx_count];
    m.msg_hdr = msghdr{};
    iovec* iov = &tx_iov[2 * tx_count];
    if (o.write) {
      wire::encode_ata_header(h, arg, s.head);
      iov[0] = {s.head.data(), wire::ata_header_size};
      iov[1] = {data.data(), std::size_t{s.sectors} * 512};
      m.msg_hdr.msg_iovlen = 2;
    } else {
      iov[0] = {s.head.data(), wire::encode(h, arg, s.head)};
      m.msg_hdr.msg_iovlen = 1;
    }
    m.msg_hdr.msg_iov = iov;
    s.last_sent = now_ns();
    if (++tx_count == batch) flush_tx();
  };
  // Starts ops while there is depth, then gives queued frames free slots.
  auto issue = [&] {
    while (ops_started < total_ops && !free_ops.empty()) {
      const std::uint32_t op = free_ops.back();
      free_ops.pop_back();
      std::uint64_t lba;
      if (o.random) {
        lba = (rng() % rand_ops_in_disk) * op_sectors;
      } else {
        if (next_seq_lba + op_sectors > disk_sectors) next_seq_lba = 0;
        lba = next_seq_lba;
        next_seq_lba += op_sectors;
      }
      ops[op] = {now_ns(), frames_per_op};
      for (std::uint64_t done = 0; done < op_sectors; done += payload) {
        const auto n = static_cast<std::uint8_t>(std::min<std::uint64_t>(payload, op_sectors - done));
        pending[pending_tail++ % pending.size()] = {op, lba + done, n};
      }
      ++ops_started;
    }
    while (pending_head < pending_tail && !free_slots.empty()) {
      const std::uint32_t index = free_slots.back();
      free_slots.pop_back();
      const PendingFrame& p = pending[pending_head++ % pending.size()];
      Slot& s = slots[index];
      s.busy = true;
      s.op = p.op;
      s.lba = p.lba;
      s.sectors = p.sectors;
      queue_tx(index);
      s.first_sent = s.last_sent;
    }
    flush_tx();
  };

  const std::uint64_t start = now_ns();
  const std::uint64_t stop_at = start + static_cast<std::uint64_t>(o.seconds * 1e9);
  std::uint64_t last_scan = start;
  bool timed_out = false;
  issue();
  while (ops_done < ops_started || ops_started < total_ops) {
    std::uint64_t now = now_ns();
    if (now >= stop_at) {
      timed_out = !o.random;
      break;
    }
    int n = ::recvmmsg(sock.fd, rx_msgs.data(), batch, MSG_DONTWAIT, nullptr);
    if (n <= 0) {
      pollfd p{sock.fd, POLLIN, 0};
      ::poll(&p, 1, 10);
    }
    for (int i = 0; i < n; ++i) {
      const std::size_t len = rx_msgs[static_cast<unsigned>(i)].msg_len;
      wire::Frame f;
      if (wire::decode({rx.data() + static_cast<std::size_t>(i) * max_frame, std::min(len, max_frame)}, f) ||
          !f.header.response || f.header.command != wire::Command::ata || !tag::is_engine(f.header.tag))
        continue;
      const std::uint32_t index = tag::slot_of(f.header.tag);
      if (index >= window) continue;
      Slot& s = slots[index];
      if (!s.busy || tag::generation_of(f.header.tag) != s.generation) continue;  // late or stray
      const auto& a = std::get<wire::AtaArg>(f.arg);
      if (f.header.error || (a.cmd_status & wire::ata::failure_mask) != 0 ||
          (!o.write && a.data.size() < std::size_t{s.sectors} * 512)) {
        ++bad;  // counted and resent: the ceiling must not skip work
        queue_tx(index);
        ++resends;
        continue;
      }
      const std::uint64_t t_rx = now_ns();
      rtt_sum += t_rx - s.last_sent;
      ++frames_done;
      bytes_done += std::size_t{s.sectors} * 512;
      s.busy = false;
      free_slots.push_back(index);
      Op& op = ops[s.op];
      if (--op.frames_left == 0) {
        if (latencies.size() < latencies.capacity())
          latencies.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(t_rx - op.start, UINT32_MAX)));
        ++ops_done;
        free_ops.push_back(s.op);
      }
    }
    flush_tx();
    if (n > 0 || free_slots.size() == window) issue();
    now = now_ns();
    if (now - last_scan >= timeout_ns / 4) {  // simple timeout-and-resend
      last_scan = now;
      for (std::uint32_t i = 0; i < window; ++i) {
        if (slots[i].busy && now - slots[i].last_sent >= timeout_ns) {
          queue_tx(i);
          ++resends;
        }
      }
      flush_tx();
    }
  }
  const double secs = static_cast<double>(now_ns() - start) / 1e9;
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(latencies.size() - 1));
    return static_cast<double>(latencies[i]) / 1000.0;
  };
  double lat_mean = 0;
  for (auto l : latencies) lat_mean += l;
  lat_mean = latencies.empty() ? 0 : lat_mean / static_cast<double>(latencies.size()) / 1000.0;

  std::printf(
      "raw-pump target=e%u.%u op=%s pattern=%s mtu=%u payload_bytes=%u buffer_count=%u window=%u depth=%u "
      "op_bytes=%llu bytes=%llu seconds=%.3f MBps=%.1f MiBps=%.1f frames_per_s=%.0f iops=%.0f rtt_us=%.1f "
      "lat_mean_us=%.1f lat_p50_us=%.1f lat_p99_us=%.1f resends=%llu errors=%llu send_fail=%llu cpu_s=%.3f timed_out=%d\n",
      t.shelf, t.slot, o.write ? "write" : "read", o.random ? "rand" : "seq", sock.mtu, payload * 512, bc,
      window, depth, static_cast<unsigned long long>(op_sectors * 512),
      static_cast<unsigned long long>(bytes_done), secs, static_cast<double>(bytes_done) / secs / 1e6,
      static_cast<double>(bytes_done) / secs / 1048576.0, static_cast<double>(frames_done) / secs,
      static_cast<double>(ops_done) / secs,
      frames_done ? static_cast<double>(rtt_sum) / static_cast<double>(frames_done) / 1000.0 : 0.0, lat_mean,
      pct(0.5), pct(0.99), static_cast<unsigned long long>(resends), static_cast<unsigned long long>(bad),
      static_cast<unsigned long long>(send_fail), cpu, timed_out ? 1 : 0);
  return timed_out ? 3 : 0;
}
