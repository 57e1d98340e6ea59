// aoe-relay: a two-port Ethernet "switch with faults" for the fault tests.
//
//   aoe-relay [fault options] IFACE_A IFACE_B
//
// Every AoE frame received on one interface is sent out of the other, after
// relay_policy.h has decided whether it is lost, damaged, duplicated, held
// back behind the next frame or delayed.  Each fault option applies to both
// directions; its -a2b / -b2a form (e.g. --loss-b2a) sets one direction.
// Probabilities are fractions (0.05) or percentages (5%).  Deterministic
// under --seed for a given arrival order.  SIGUSR1 prints the counters;
// SIGINT/SIGTERM print them (with --stats) and exit.
//
// The kernel has no netem here, hence this.  It runs in its own network
// namespace between two veth pairs (tests/integration/fault-lab.sh).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include "tests/relay/relay_policy.h"
#include "tools/cli.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23  // Linux 4.20
#endif

namespace {

using namespace aoe::relay;

constexpr std::uint16_t aoe_ethertype = 0x88A2;
constexpr int socket_buffer_bytes = 32 << 20;  // a burst of a full window on every path never overflows

volatile std::sig_atomic_t stop_signal = 0;
volatile std::sig_atomic_t stats_requested = 0;

void on_signal(int sig) {
  if (sig == SIGUSR1)
    stats_requested = 1;
  else
    stop_signal = sig;
}

// One relay port: a raw socket bound to an interface in promiscuous mode.
struct SwitchPort {
  std::string name;
  int fd = -1;
  // Our own losses, kept apart from the injected ones.
  std::uint64_t rx_socket_drops = 0;  // the kernel found our receive queue full
  std::uint64_t rx_truncated = 0;     // bigger than our buffer
  std::uint64_t tx_full = 0;          // send queue still full after waiting
  std::uint64_t tx_too_big = 0;       // above the egress MTU
  std::uint64_t tx_errors = 0;        // anything else (interface gone...)
};

[[noreturn]] void die(const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

void set_buffer(int fd, int force_option, int option, int bytes) {
  // SO_*BUFFORCE ignores net.core.*mem_max (needs CAP_NET_ADMIN, which we have in the lab).
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
}

SwitchPort open_port(const std::string& name, bool all_ethertypes) {
  SwitchPort port{name};
  const unsigned ifindex = ::if_nametoindex(name.c_str());
  if (ifindex == 0) die("interface " + name);
  // Protocol 0 receives nothing until bound: no frames from other interfaces slip in.
  port.fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (port.fd < 0) die("socket(AF_PACKET) (needs CAP_NET_RAW)");
  set_buffer(port.fd, SO_RCVBUFFORCE, SO_RCVBUF, socket_buffer_bytes);
  set_buffer(port.fd, SO_SNDBUFFORCE, SO_SNDBUF, socket_buffer_bytes);
  int one = 1;
  ::setsockopt(port.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);  // also checked per frame
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(all_ethertypes ? ETH_P_ALL : aoe_ethertype);
  addr.sll_ifindex = static_cast<int>(ifindex);
  if (::bind(port.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind " + name);
  // Frames for the other side's MACs must reach us, as on a switch port.
  packet_mreq mreq{};
  mreq.mr_ifindex = static_cast<int>(ifindex);
  mreq.mr_type = PACKET_MR_PROMISC;
  if (::setsockopt(port.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0)
    die("promiscuous mode on " + name);
  return port;
}

void collect_socket_drops(SwitchPort& port) {
  tpacket_stats st{};
  socklen_t len = sizeof st;
  if (::getsockopt(port.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) port.rx_socket_drops += st.tp_drops;
}

// Sends one frame; waits (bounded) for room rather than dropping it ourselves.
void send_frame(SwitchPort& port, std::span<const std::byte> frame) {
  for (int attempt = 0;; ++attempt) {
    if (::send(port.fd, frame.data(), frame.size(), MSG_DONTWAIT) >= 0) return;
    if ((errno == EAGAIN || errno == ENOBUFS) && attempt < 100) {
      pollfd p{port.fd, POLLOUT, 0};
      ::poll(&p, 1, 10);
      continue;
    }
    if (errno == EAGAIN || errno == ENOBUFS)
      ++port.tx_full;
    else if (errno == EMSGSIZE)
      ++port.tx_too_big;
    else
      ++port.tx_errors;
    return;
  }
}

void print_stats(const SwitchPort& from, const SwitchPort& to, const Pipeline& p) {
  const Counters& c = p.counters();
  fmt::print(stderr,
             "aoe-relay: {}->{} received {} delivered {} lost {} oversize {} duplicated {} reordered {} "
             "hold_timeouts {} delayed {} truncated {} header_damaged {} | own_drops rx_socket {} rx_truncated {} "
             "tx_full {} tx_too_big {} tx_errors {} queue_full {}\n",
             from.name, to.name, c.received, c.delivered, c.lost, c.oversize, c.duplicated, c.reordered,
             c.hold_timeouts, c.delayed, c.truncated, c.header_damaged, from.rx_socket_drops, from.rx_truncated,
             to.tx_full, to.tx_too_big, to.tx_errors, c.queue_full);
}

double parse_probability(const std::string& text) {
  std::size_t used = 0;
  const bool percent = !text.empty() && text.back() == '%';
  const std::string number = percent ? text.substr(0, text.size() - 1) : text;
  double p = std::stod(number, &used);
  if (used != number.size()) throw std::invalid_argument(text);
  if (percent) p /= 100;
  if (!(p >= 0 && p <= 1)) throw std::out_of_range(text);
  return p;
}

Micros parse_ms(const std::string& text) {
  std::size_t used = 0;
  double ms = std::stod(text, &used);
  if (used != text.size() || !(ms >= 0 && ms <= 60'000)) throw std::invalid_argument(text);
  return Micros(std::llround(ms * 1000));
}

// MS[:JITTER]
std::pair<Micros, Micros> parse_delay(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos) return {parse_ms(text), Micros(0)};
  return {parse_ms(text.substr(0, colon)), parse_ms(text.substr(colon + 1))};
}

// One fault option in its three spellings: both directions, a2b, b2a.
struct FaultOption {
  std::string both, a2b, b2a;
};

void add_fault_option(aoe::tools::cli::App& app, const std::string& name, FaultOption& o, const std::string& help,
                      const std::string& type) {
  app.add_option("--" + name, o.both, help + " (both directions)")->type_name(type);
  app.add_option("--" + name + "-a2b", o.a2b, help + " (A to B only)")->type_name(type);
  app.add_option("--" + name + "-b2a", o.b2a, help + " (B to A only)")->type_name(type);
}

const std::string& pick(const FaultOption& o, bool a2b) {
  const std::string& one = a2b ? o.a2b : o.b2a;
  return one.empty() ? o.both : one;
}

int run(int argc, char** argv) {
  std::string iface_a, iface_b;
  FaultOption loss, duplicate, reorder, corrupt, delay, max_frame;
  std::uint64_t seed = 1;
  bool stats = false, all_ethertypes = false;
  double hold_timeout_ms = 20;
  std::size_t queue_limit = 65536;

  aoe::tools::cli::App app{"Relay frames between two interfaces like a switch with faults (loss, duplication, "
               "reordering, delay, header damage, a frame-size limit); for tests.",
               "aoe-relay"};
  app.add_option("A", iface_a, "First interface")->required();
  app.add_option("B", iface_b, "Second interface")->required();
  add_fault_option(app, "loss", loss, "Drop frames with this probability", "P|N%");
  add_fault_option(app, "duplicate", duplicate, "Send frames twice with this probability", "P|N%");
  add_fault_option(app, "reorder", reorder, "Hold a frame and send it after the next one", "P|N%");
  add_fault_option(app, "corrupt", corrupt,
                   "Truncate a frame or damage its AoE header (shelf, slot, version, command) so the "
                   "receiver must ignore it; never data bytes (see relay_policy.h)",
                   "P|N%");
  add_fault_option(app, "delay", delay, "Delay every frame by MS plus uniform [0, JITTER] ms", "MS[:JITTER]");
  add_fault_option(app, "max-frame", max_frame, "Drop frames longer than this, Ethernet header included (a non-jumbo hop: 1514)",
                   "BYTES");
  app.add_option("--seed", seed, "Seed of the fault generators")->capture_default_str();
  app.add_option("--hold-timeout", hold_timeout_ms, "A held (reordered) frame goes alone after this many ms")
      ->capture_default_str();
  app.add_option("--queue-limit", queue_limit, "Most delayed frames kept per direction")->capture_default_str();
  app.add_flag("--stats", stats, "Print the counters on exit");
  app.add_flag("--all-ethertypes", all_ethertypes, "Relay every frame, not only AoE (0x88A2)");
  if (auto code = app.parse(argc, argv)) return *code;  // --help, or a bad command line (exit 2)

  Faults faults[2];
  try {
    for (int dir = 0; dir < 2; ++dir) {
      const bool a2b = dir == 0;
      Faults& f = faults[dir];
      if (auto& s = pick(loss, a2b); !s.empty()) f.loss = parse_probability(s);
      if (auto& s = pick(duplicate, a2b); !s.empty()) f.duplicate = parse_probability(s);
      if (auto& s = pick(reorder, a2b); !s.empty()) f.reorder = parse_probability(s);
      if (auto& s = pick(corrupt, a2b); !s.empty()) f.corrupt = parse_probability(s);
      if (auto& s = pick(delay, a2b); !s.empty()) std::tie(f.delay, f.jitter) = parse_delay(s);
      if (auto& s = pick(max_frame, a2b); !s.empty()) f.max_frame = std::stoul(s);
      f.hold_timeout = parse_ms(fmt::format("{}", hold_timeout_ms));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "aoe-relay: bad fault value: {}\n", e.what());
    return 2;
  }

  SwitchPort ports[2] = {open_port(iface_a, all_ethertypes), open_port(iface_b, all_ethertypes)};
  // Independent streams per direction: one direction's traffic never shifts the other's faults.
  Pipeline pipes[2] = {Pipeline(faults[0], seed * 2 + 0, queue_limit), Pipeline(faults[1], seed * 2 + 1, queue_limit)};
  Pipeline::Sink sinks[2] = {[&](std::span<const std::byte> f) { send_frame(ports[1], f); },
                             [&](std::span<const std::byte> f) { send_frame(ports[0], f); }};

  // Signals are blocked except inside ppoll(), so a flag set by a handler is never missed.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigset_t blocked, during_poll;
  sigemptyset(&blocked);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
    ::sigaction(sig, &sa, nullptr);
    sigaddset(&blocked, sig);
  }
  ::sigprocmask(SIG_BLOCK, &blocked, &during_poll);
  sigdelset(&during_poll, SIGINT);
  sigdelset(&during_poll, SIGTERM);
  sigdelset(&during_poll, SIGHUP);
  sigdelset(&during_poll, SIGUSR1);

  fmt::print(stderr, "aoe-relay: relaying {} <-> {} (seed {})\n", iface_a, iface_b, seed);
  static std::array<std::byte, 65536 + 64> buffer;
  pollfd fds[2] = {{ports[0].fd, POLLIN, 0}, {ports[1].fd, POLLIN, 0}};
  while (!stop_signal) {
    std::optional<Clock::time_point> next;
    for (auto& p : pipes)
      if (auto t = p.next_deadline(); t && (!next || *t < *next)) next = t;
    timespec ts{};
    timespec* timeout = nullptr;
    if (next) {
      auto wait = std::max(Clock::duration::zero(), *next - Clock::now());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      timeout = &ts;
    }
    int n = ::ppoll(fds, 2, timeout, &during_poll);
    if (n < 0 && errno != EINTR) die("ppoll");
    if (stats_requested) {
      stats_requested = 0;
      for (int dir = 0; dir < 2; ++dir) {
        collect_socket_drops(ports[dir]);
        print_stats(ports[dir], ports[1 - dir], pipes[dir]);
      }
    }
    for (int dir = 0; dir < 2; ++dir) {
      if (n <= 0 || !(fds[dir].revents & POLLIN)) continue;
      // Drain a bounded batch, then let the other direction have its turn.
      for (int i = 0; i < 256; ++i) {
        sockaddr_ll from{};
        socklen_t from_len = sizeof from;
        ssize_t got = ::recvfrom(ports[dir].fd, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
        if (got < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          die("recvfrom " + ports[dir].name);
        }
        if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own transmissions
        if (static_cast<std::size_t>(got) > buffer.size()) {
          ++ports[dir].rx_truncated;
          continue;
        }
        pipes[dir].push(std::span(buffer.data(), static_cast<std::size_t>(got)), Clock::now(), sinks[dir]);
      }
    }
    auto now = Clock::now();
    for (int dir = 0; dir < 2; ++dir) pipes[dir].release(now, sinks[dir]);
  }
  for (int dir = 0; dir < 2; ++dir) pipes[dir].flush(sinks[dir]);
  if (stats)
    for (int dir = 0; dir < 2; ++dir) {
      collect_socket_drops(ports[dir]);
      print_stats(ports[dir], ports[1 - dir], pipes[dir]);
    }
  for (auto& p : ports) ::close(p.fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "aoe-relay: {}\n", e.what());
    return 1;
  }
}
