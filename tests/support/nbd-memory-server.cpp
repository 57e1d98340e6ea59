// nbd-memory-server: serves a MemoryDevice over NBD on a unix socket, so real
// NBD clients (nbdinfo, nbdcopy, qemu-io, nbdsh, fio) can test the bridge
// without an AoE target.  Runs until SIGINT or SIGTERM.
//
//   nbd-memory-server --socket PATH [--size 64M] [--read-only] [--no-flush]
//                     [--name NAME] [--description TEXT] [--delay-us N] [--jitter-us N]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/asio/signal_set.hpp>

#include "nbd-bridge/server.h"
#include "tests/support/memory_device.h"

namespace {

std::uint64_t parse_size(std::string_view text) {
  std::size_t used = 0;
  std::uint64_t value = std::stoull(std::string(text), &used);
  switch (used < text.size() ? text[used] : '\0') {
    case 'G': value <<= 10; [[fallthrough]];
    case 'M': value <<= 10; [[fallthrough]];
    case 'K': value <<= 10; break;
    default: break;
  }
  return value;
}

int usage() {
  std::fprintf(stderr,
               "usage: nbd-memory-server --socket PATH [--size 64M] [--read-only] [--no-flush]\n"
               "       [--name NAME] [--description TEXT] [--delay-us N] [--jitter-us N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path;
  std::uint64_t size = 64u << 20;
  bool can_flush = true;
  long delay_us = 0, jitter_us = 0;
  aoe::nbd::ExportOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--socket" && has_value) socket_path = argv[++i];
    else if (arg == "--size" && has_value) size = parse_size(argv[++i]);
    else if (arg == "--read-only") options.read_only = true;
    else if (arg == "--no-flush") can_flush = false;
    else if (arg == "--name" && has_value) options.name = argv[++i];
    else if (arg == "--description" && has_value) options.description = argv[++i];
    else if (arg == "--delay-us" && has_value) delay_us = std::atol(argv[++i]);
    else if (arg == "--jitter-us" && has_value) jitter_us = std::atol(argv[++i]);
    else return usage();
  }
  if (socket_path.empty() || size % 512) return usage();

  boost::asio::io_context io;
  aoe::test::MemoryDevice device(io, size, can_flush);
  device.delay = std::chrono::microseconds(delay_us);
  device.jitter = std::chrono::microseconds(jitter_us);
  aoe::nbd::Server server(io, device, options);
  if (auto ec = server.listen_unix(socket_path)) {
    std::fprintf(stderr, "nbd-memory-server: %s: %s\n", socket_path.c_str(), ec.message().c_str());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { server.shutdown([&] { io.stop(); }); });
  io.run();
  return 0;
}
