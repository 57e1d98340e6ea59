// engine-pump: the request engine alone against a target (scripts/bench).
//
// Discovers the target like aoe-attach does, then keeps --depth requests of
// --bs bytes outstanding through aoe::Engine, sequentially over the disk
// (wrapping at its end), until --bytes have moved.  No NBD, no socket hop:
// set beside raw-pump (the wire's ceiling) and aoe-attach --socket (the
// whole product), it tells which layer costs what.
//
//   engine-pump -i IF [-i IF...] [-t e1.2] --op read|write [--bs BYTES]
//               [--depth N] [--bytes N] [--seconds S]
//
// Prints one "key=value ..." line on stdout (scripts/bench parses it).
#include <sys/resource.h>

#include <chrono>
#include <functional>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>

#include "discovery/discover.h"
#include "initiator/engine.h"
#include "initiator/errors.h"
#include "initiator/packet_link.h"

namespace {

using namespace aoe;

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "engine-pump: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> interfaces;
  std::string target_name = "e1.2", op = "read";
  std::size_t bs = 1 << 20;
  unsigned depth = 32;
  std::uint64_t bytes = 256u << 20;
  double seconds = 120;
  CLI::App app{"The AoE request engine alone: sequential reads or writes, MB/s.", "engine-pump"};
  app.add_option("-i,--interface", interfaces, "Interface (repeatable)")->required();
  app.add_option("-t,--target", target_name, "Target eS.L")->capture_default_str();
  app.add_option("--op", op, "read or write")->check(CLI::IsMember({"read", "write"}))->capture_default_str();
  app.add_option("--bs", bs, "Bytes per request (multiple of 512, at most 32 MiB; K, M, G suffixes)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--depth", depth, "Requests outstanding")->check(CLI::Range(1u, 1024u))->capture_default_str();
  app.add_option("--bytes", bytes, "Bytes to move")->transform(CLI::AsSizeValue(false))->capture_default_str();
  app.add_option("--seconds", seconds, "Give up after this long")->capture_default_str();
  // The wire side's older ways, to measure what the ring and the bypass gain.
  PacketLinkOptions link_options;
  bool recvmmsg = false, tx_qdisc = false;
  app.add_flag("--recvmmsg", recvmmsg, "Receive with recvmmsg instead of the mapped ring");
  app.add_flag("--tx-qdisc", tx_qdisc, "Send through the qdisc (aoe-attach --tx-qdisc)");
  CLI11_PARSE(app, argc, argv);
  link_options.receive_ring = !recvmmsg;
  link_options.bypass_qdisc = !tx_qdisc;
  if (bs == 0 || bs % 512 || bs > (32u << 20)) return fail("--bs must be a multiple of 512 up to 32 MiB");
  log::threshold = log::Level::warning;

  discovery::TargetId id;
  if (!wire::parse_target(target_name, id.shelf, id.slot)) return fail("bad target name " + target_name);
  discovery::DiscoverOptions want;
  want.only = {id};
  boost::asio::io_context io;
  std::vector<std::unique_ptr<PacketLink>> owned;
  std::vector<Link*> links;
  for (const std::string& name : interfaces) {
    std::error_code ec;
    owned.push_back(PacketLink::open(io, name, ec, link_options));
    if (!owned.back()) return fail(name + ": " + ec.message());
    links.push_back(owned.back().get());
  }
  auto found = discovery::discover(io, links, want);
  if (found.targets.empty()) return fail(target_name + " not found");
  Engine engine(io, found.targets.front(), {});
  for (Link* l : links) l->set_receiver([&engine, l](std::span<const std::byte> f) { engine.on_frame(*l, f); });

  const std::uint64_t span = engine.size_bytes() / bs * bs;
  if (span == 0) return fail("--bs is larger than the target");
  std::vector<std::vector<std::byte>> buffers(depth, std::vector<std::byte>(bs));
  std::mt19937_64 rng(1);
  for (auto& b : buffers)
    for (auto& x : b) x = static_cast<std::byte>(rng());

  std::uint64_t issued = 0, moved = 0;
  unsigned in_flight = 0;
  std::error_code failure;
  std::function<void(unsigned)> issue = [&](unsigned slot) {
    if (failure || issued >= bytes) {
      if (in_flight == 0) io.stop();
      return;
    }
    const std::uint64_t offset = issued % span;
    issued += bs;
    ++in_flight;
    auto done = [&, slot](std::error_code ec) {
      --in_flight;
      if (ec && !failure) failure = ec;
      if (!ec) moved += bs;
      issue(slot);
    };
    if (op == "write")
      engine.async_write(offset, buffers[slot], done);
    else
      engine.async_read(offset, buffers[slot], done);
  };
  boost::asio::steady_timer limit(io, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::duration<double>(seconds)));
  limit.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    failure = errc::timed_out;
    io.stop();
  });

  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (unsigned s = 0; s < depth; ++s) issue(s);
  io.restart();
  io.run();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  if (failure) return fail("stopped after " + std::to_string(moved) + " bytes: " + failure.message());

  std::uint64_t sent = 0, retransmits = 0, timeouts = 0;
  for (const PathStatus& p : engine.path_status()) {
    sent += p.frames_sent;
    retransmits += p.retransmits;
    timeouts += p.timeouts;
  }
  std::printf("op=%s bytes=%llu seconds=%.3f MBps=%.1f cpu_s=%.3f payload_bytes=%u frames=%llu "
              "retransmits=%llu timeouts=%llu paths=%zu\n",
              op.c_str(), static_cast<unsigned long long>(moved), secs, static_cast<double>(moved) / secs / 1e6, cpu,
              engine.payload_sectors() * 512u, static_cast<unsigned long long>(sent),
              static_cast<unsigned long long>(retransmits), static_cast<unsigned long long>(timeouts),
              engine.path_status().size());
  engine.shutdown();
  return 0;
}
