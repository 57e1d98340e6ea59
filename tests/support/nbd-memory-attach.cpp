// nbd-memory-attach: serves a RAM disk (tests/support/memory_device.h, the
// one the unit tests use) through the kernel nbd driver, for the kernel
// attach tests in the VM (tests/vm/test-kernel-attach-memory.sh).
//
// The server runs on its own io thread before the kernel is told about the
// socket (the kernel reads the device right away, docs/nbd-protocol.md §5.2).
// Prints "/dev/nbdN" once attached, then waits for SIGTERM/SIGINT (detaches
// itself) or for the kernel to drop the socket (someone ran aoe-detach), and
// exits 0 after a clean detach.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/etherd_link.h"
#include "nbd-bridge/kernel_attach.h"
#include "nbd-bridge/server.h"
#include "tests/support/memory_device.h"
#include "tools/cli.h"
#include "tools/validate.h"

namespace {

namespace asio = boost::asio;

// Polls, on the io thread, whether the kernel's connection is gone.
void watch_connection(asio::steady_timer& timer, aoe::nbd::Server& server, std::atomic<bool>& gone) {
  timer.expires_after(std::chrono::milliseconds(100));
  timer.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    if (server.connection_count() == 0) {
      gone = true;
      return;
    }
    watch_connection(timer, server, gone);
  });
}

}  // namespace

int main(int argc, char** argv) {
  aoe::tools::cli::App app{"Attach a RAM disk as /dev/nbdN through the kernel nbd driver (test tool)"};
  std::uint64_t size_mib = 64;
  std::uint64_t block_size = 512;
  std::string device;
  std::string link;
  bool force_ioctl = false;
  std::uint64_t resize_mib = 0;
  app.add_option("--size-mib", size_mib, "disk size in MiB")->check(aoe::tools::validate::WholeNumber(1, 4096, "MiB"));
  app.add_option("--block-size", block_size, "logical block size");
  app.add_option("--device", device, "/dev/nbdN to use (default: the kernel picks)");
  app.add_option("--link", link, "also create /dev/etherd/LINK (eS.L) -> /dev/nbdN");
  app.add_flag("--ioctl", force_ioctl, "use the legacy ioctl interface even if netlink is there");
  app.add_option("--resize-mib", resize_mib, "once attached, shrink the device to this size (MiB)")
      ->check(aoe::tools::validate::WholeNumber(1, 4096, "MiB"));
  if (auto code = app.parse(argc, argv)) return *code;
  if (resize_mib > size_mib) {
    std::fprintf(stderr, "nbd-memory-attach: --resize-mib beyond the RAM disk\n");
    return 2;
  }

  aoe::nbd::AttachRequest request;
  request.size_bytes = size_mib << 20;
  request.block_size = block_size;
  request.force_ioctl = force_ioctl;
  request.backend_id = "aoe-nbd:" + (link.empty() ? std::string("memory") : link);
  if (!device.empty()) {
    request.index = aoe::nbd::parse_device_path(device);
    if (!request.index) {
      std::fprintf(stderr, "nbd-memory-attach: not an nbd device: %s\n", device.c_str());
      return 2;
    }
  }

  // SIGTERM/SIGINT are taken synchronously by the main thread; block them
  // before any thread starts so none of them receives one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    std::perror("nbd-memory-attach: socketpair");
    return 1;
  }

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  aoe::test::MemoryDevice disk(io, request.size_bytes);
  aoe::nbd::Server server(io, disk, {});
  request.flags = server.transmission_flags();
  request.sockets = {fds[1]};
  server.serve_transmission(fds[0]);  // before the io thread runs: no race
  std::atomic<bool> kernel_gone{false};
  asio::steady_timer watch(io);
  watch_connection(watch, server, kernel_gone);
  std::thread io_thread([&] { io.run(); });

  auto stop_server = [&] {
    asio::post(io, [&] {
      watch.cancel();
      server.shutdown([&] { work.reset(); });
    });
    io_thread.join();
  };

  std::error_code ec;
  auto attachment = aoe::nbd::connect(request, ec);
  ::close(fds[1]);  // the kernel holds its own reference now
  if (!attachment) {
    std::fprintf(stderr, "nbd-memory-attach: attach failed: %s\n", ec.message().c_str());
    stop_server();
    return 1;
  }
  // From this thread, never the io thread: a resize waits for in-flight I/O.
  if (resize_mib != 0) {
    if (auto rec = attachment->resize(resize_mib << 20)) {
      std::fprintf(stderr, "nbd-memory-attach: resize: %s\n", rec.message().c_str());
      attachment->disconnect();
      stop_server();
      return 1;
    }
  }
  if (!link.empty()) {
    if (auto lec = aoe::daemon::create_etherd_link(link, attachment->index())) {
      std::fprintf(stderr, "nbd-memory-attach: /dev/etherd/%s: %s\n", link.c_str(), lec.message().c_str());
      attachment->disconnect();
      stop_server();
      return 1;
    }
  }
  std::printf("%s\n", attachment->device_path().c_str());
  std::fflush(stdout);

  const timespec tick{0, 100'000'000};
  bool signalled = false;
  while (!kernel_gone && !signalled) signalled = sigtimedwait(&stop_signals, nullptr, &tick) > 0;

  int rc = 0;
  const std::uint32_t index = attachment->index();
  if (signalled) {
    if (auto dec = attachment->disconnect()) {
      std::fprintf(stderr, "nbd-memory-attach: disconnect: %s\n", dec.message().c_str());
      rc = 1;
    }
  }
  attachment.reset();  // an ioctl attachment joins its NBD_DO_IT thread here
  if (!link.empty()) {
    if (auto lec = aoe::daemon::remove_etherd_link(link, index)) {
      std::fprintf(stderr, "nbd-memory-attach: /dev/etherd/%s: %s\n", link.c_str(), lec.message().c_str());
      rc = 1;
    }
  }
  stop_server();
  return rc;
}
