// delay-link: a slow Ethernet path for scripts/bench where the kernel has no
// netem (CONFIG_NET_SCH_NETEM off).  Forwards every AoE frame between two
// interfaces unchanged; frames from --from to --to are held --delay-ms,
// plus a uniform random --jitter-ms either way (netem's "delay D J"), and so
// may overtake each other as under netem.  Frames the other way pass at once.
//
//   delay-link --from IF --to IF [--delay-ms D] [--jitter-ms J]
//
// Runs until killed.  A bench tool, not the engine: it allocates per frame.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "initiator/socket_buffer.h"
#include "initiator/wire.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23  // Linux 4.20
#endif

namespace {

std::int64_t now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "delay-link: %s%s%s\n", what, errno ? ": " : "", errno ? std::strerror(errno) : "");
  std::exit(1);
}

// An AoE socket on one interface, promiscuous: the frames it forwards are
// addressed to the host on the far side, not to this one.
int open_port(const std::string& ifname) {
  const std::uint16_t proto = htons(aoe::wire::ethertype);
  const int ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (ifindex == 0) die("no such interface");
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, proto);
  if (fd < 0) die("socket(AF_PACKET)");
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = proto;
  addr.sll_ifindex = ifindex;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  int one = 1;
  ::setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  packet_mreq mr{};
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (::setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) die("PACKET_MR_PROMISC");
  const int bytes = 16 << 20;  // a window of jumbo frames held for 600 ms
  aoe::set_socket_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, bytes);
  aoe::set_socket_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, bytes);
  return fd;
}

struct Held {
  std::int64_t due_us;
  std::vector<char> frame;
  bool operator>(const Held& o) const { return due_us > o.due_us; }
};

}  // namespace

int main(int argc, char** argv) {
  std::string from, to;
  double delay_ms = 0, jitter_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--from") from = argv[i + 1];
    else if (a == "--to") to = argv[i + 1];
    else if (a == "--delay-ms") delay_ms = std::atof(argv[i + 1]);
    else if (a == "--jitter-ms") jitter_ms = std::atof(argv[i + 1]);
    else from.clear();
  }
  if (from.empty() || to.empty() || argc % 2 == 0 || jitter_ms > delay_ms) {
    std::fprintf(stderr, "usage: delay-link --from IF --to IF [--delay-ms D] [--jitter-ms J<=D]\n");
    return 2;
  }
  const int in = open_port(from), out = open_port(to);
  std::mt19937_64 rng(4242);
  std::uniform_real_distribution<double> extra(-jitter_ms, jitter_ms);
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held;
  std::vector<char> buf(65536);
  for (;;) {
    int wait_ms = -1;
    if (!held.empty()) wait_ms = static_cast<int>(std::max<std::int64_t>(0, (held.top().due_us - now_us() + 999) / 1000));
    pollfd p[2] = {{in, POLLIN, 0}, {out, POLLIN, 0}};
    if (::poll(p, 2, wait_ms) < 0 && errno != EINTR) die("poll");
    for (ssize_t n; (n = ::recv(in, buf.data(), buf.size(), 0)) > 0;) {
      const double ms = delay_ms + (jitter_ms > 0 ? extra(rng) : 0.0);
      held.push({now_us() + static_cast<std::int64_t>(ms * 1000), {buf.begin(), buf.begin() + n}});
    }
    for (ssize_t n; (n = ::recv(out, buf.data(), buf.size(), 0)) > 0;)
      (void)::send(in, buf.data(), static_cast<std::size_t>(n), 0);  // a lost frame is the engine's to resend
    for (const std::int64_t t = now_us(); !held.empty() && held.top().due_us <= t; held.pop())
      (void)::send(out, held.top().frame.data(), held.top().frame.size(), 0);
  }
}
