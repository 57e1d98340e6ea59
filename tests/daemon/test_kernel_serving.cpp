// Kernel serving (daemon/kernel_serving.h) against a fake kernel side: an
// AttachedTarget over a fake wire and target, and a KernelDriver whose
// "device" is our end of the socketpair, read like the kernel reads it.
// What the fake cannot show (the real driver's netlink and ioctls) the VM
// tests do (tests/vm/test-kernel-*.sh); here: which way each ending goes,
// which exit code it gives, that the /dev/etherd name follows, that a stop
// ends within seconds whatever the deadline, and that a device is adopted
// only for the disk it served (daemon/disk_record.h).
#include "daemon/kernel_serving.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <catch2/catch.hpp>

#include "daemon/disk_record.h"
#include "daemon/exit_codes.h"
#include "daemon/status_schema.h"
#include "tests/daemon/attached_lab.h"
#include "tests/support/fake_link.h"
#include "tests/support/fake_target.h"
#include "tests/support/temp_dir.h"

using namespace aoe;
using namespace aoe::daemon;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using test::put_be;

// The kernel's side of one attachment: our dup of its socket, what it was
// asked, and how it answers status().
struct FakeKernel {
  std::mutex mutex;
  int fd = -1;
  nbd::AttachRequest request;
  int disconnects = 0;
  bool tells_outside_disconnect = true;
  nbd::DeviceStatus status = nbd::DeviceStatus::connected;
  std::error_code attach_error;  // set: attach fails with it
  std::promise<void> attached;
  // A device left by a previous aoe-attach, which adopt() takes over
  // unless its connection is live (then the kernel drops our socket).
  std::optional<std::uint32_t> orphan;
  bool orphan_live = false;
  bool adopted = false;
  int orphan_disconnects = 0;            // driver disconnects of a device nobody serves
  bool adoptable = false;                // netlink: a successor can adopt ours
  std::optional<std::string> in_use;     // what a disconnect would hurt

  void shut() {
    std::lock_guard lock(mutex);
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  ~FakeKernel() {
    if (fd >= 0) ::close(fd);
  }
};

class FakeDevice final : public KernelDevice {
 public:
  explicit FakeDevice(FakeKernel& k) : k_(k) {}
  std::uint32_t index() const override { return 9; }
  std::string path() const override { return "/dev/nbd9"; }
  bool tells_outside_disconnect() const override { return k_.tells_outside_disconnect; }
  std::error_code resize(std::uint64_t) override { return {}; }
  // Like the kernel: DISC, then the sockets are shut.
  std::error_code disconnect() override {
    {
      std::lock_guard lock(k_.mutex);
      ++k_.disconnects;
      k_.status = nbd::DeviceStatus::disconnected;
    }
    k_.shut();
    return {};
  }
  nbd::DeviceStatus status(std::error_code& ec) override {
    ec.clear();
    std::lock_guard lock(k_.mutex);
    return k_.status;
  }
  bool adoptable() const override { return k_.adoptable; }
  std::optional<std::string> in_use() override { return k_.in_use; }

 private:
  FakeKernel& k_;
};

class FakeDriver final : public KernelDriver {
 public:
  explicit FakeDriver(FakeKernel& k) : k_(k) {}
  std::unique_ptr<KernelDevice> attach(const nbd::AttachRequest& request, std::error_code& ec) override {
    if (k_.attach_error) {
      ec = k_.attach_error;
      k_.attached.set_value();
      return nullptr;
    }
    {
      std::lock_guard lock(k_.mutex);
      k_.request = request;
      k_.fd = ::dup(request.sockets.front());  // the caller closes its copy, as with the kernel
    }
    k_.attached.set_value();
    return std::make_unique<FakeDevice>(k_);
  }
  std::optional<std::uint32_t> find_backend(const std::string& backend_id) override {
    return backend_id == "aoe-nbd:e1.2" ? k_.orphan : std::nullopt;
  }
  std::unique_ptr<KernelDevice> adopt(std::uint32_t, const nbd::AttachRequest& request, std::error_code& ec) override {
    ec.clear();
    {
      std::lock_guard lock(k_.mutex);
      k_.request = request;
      k_.adopted = !k_.orphan_live;
      if (k_.adopted) k_.fd = ::dup(request.sockets.front());
    }
    k_.attached.set_value();
    return std::make_unique<FakeDevice>(k_);
  }
  std::error_code disconnect(std::uint32_t index) override {
    if (k_.orphan == index) ++k_.orphan_disconnects;  // no assertion off the test's thread
    k_.attached.set_value();  // the test's kernel side runs after the first thing the driver was asked
    return {};
  }

 private:
  FakeKernel& k_;
};

bool read_all(int fd, std::byte* p, std::size_t n) {
  for (std::size_t done = 0; done < n;) {
    ssize_t got = ::read(fd, p + done, n - done);
    if (got <= 0) return false;
    done += static_cast<std::size_t>(got);
  }
  return true;
}

// One NBD READ of the first sector, as the kernel sends it (no handshake:
// docs/nbd-protocol.md §5.1); returns the data, or nothing on a bad reply.
std::optional<std::array<std::byte, 512>> kernel_read(int fd) {
  std::array<std::byte, 28> req{};
  put_be(&req[0], 0x25609513, 4);  // request magic
  put_be(&req[6], 0, 2);           // READ
  put_be(&req[8], 77, 8);          // cookie
  put_be(&req[16], 0, 8);          // offset
  put_be(&req[24], 512, 4);
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return std::nullopt;
  std::array<std::byte, 16> reply{};
  std::array<std::byte, 512> data{};
  if (!read_all(fd, reply.data(), reply.size())) return std::nullopt;
  if (reply[4] != std::byte{0} || reply[7] != std::byte{0} || reply[15] != std::byte{77}) return std::nullopt;
  if (!read_all(fd, data.data(), data.size())) return std::nullopt;
  return data;
}

// One target (e1.2) on a fake wire, attached; the kernel side is the test's.
// Its run directory (disk records) is a temporary one.
struct KernelLab {
  boost::asio::io_context io;
  test::FakeWire wire{io, LinkInfo{"fake0", 1, {2, 0, 0, 0, 0, 1}, 1500}, LinkInfo{"fake1", 2, {2, 0, 0, 0, 0, 0x11}, 1500}};
  test::FakeTarget target{io, wire.end(1)};
  test::TempDir dir{"aoe-serving"};
  Options options;
  std::unique_ptr<AttachedTarget> attached;

  explicit KernelLab(double deadline_seconds = 60) {
    ::setenv("AOE_RUN_DIR", (dir.path / "run").c_str(), 1);
    for (std::size_t i = 0; i < 512; ++i) target.disk[i] = std::byte(i * 7 + 1);
    options.target = "e1.2";
    options.attach.shelf = 1;
    options.attach.slot = 2;
    options.attach.discovery_window = 200ms;
    options.attach.export_options.name = "e1.2";
    options.deadline_seconds = deadline_seconds;
    options.attach.engine.deadline = std::chrono::milliseconds(static_cast<long>(deadline_seconds * 1000));
    options.etherd_dir = dir.path / "etherd";
    std::string error;
    attached = AttachedTarget::open(io, {&wire.end(0)}, options.attach, error);
    REQUIRE(attached);
    io.restart();
  }
  ~KernelLab() { ::unsetenv("AOE_RUN_DIR"); }

  // The record a predecessor left for `record`'s disk.
  void leave_record(const DiskRecord& record) {
    fs::create_directories(run_dir());
    std::ofstream(disk_record_path("e1.2")) << format_record(record);
  }
  DiskRecord our_disk() const { return record_of(attached->engine().target().identity); }
  bool wrote_anything() const {
    return std::any_of(target.ata_commands.begin(), target.ata_commands.end(), [](std::uint8_t op) {
      return op == wire::ata::write_sectors || op == wire::ata::write_sectors_ext;
    });
  }
};

// KernelLab, plus the fake kernel and what serve_kernel takes.
struct Serving : KernelLab {
  using KernelLab::KernelLab;
  FakeKernel kernel;
  FakeDriver driver{kernel};
  boost::asio::signal_set signals{io, SIGINT, SIGTERM};
  Readiness readiness = Readiness::foreground();
  Served served;

  // Serves until the device is detached, with `kernel_side` playing the
  // kernel on a thread of its own once attached.
  int run(std::function<void()> kernel_side = {}) {
    std::thread kernel_thread([&] {
      kernel.attached.get_future().wait();
      if (kernel_side) kernel_side();
    });
    int code = serve_kernel(io, signals, *attached, options, readiness, served, driver);
    kernel_thread.join();
    return code;
  }
};

}  // namespace

TEST_CASE("test-daemon-kernel-serving-signal-disconnects") {
  Serving lab;
  auto& kernel = lab.kernel;
  auto& served = lab.served;
  // The kernel: reads the first sector once attached, then aoe-detach's SIGINT.
  std::optional<std::array<std::byte, 512>> got;
  bool linked = false;
  int code = lab.run([&] {
    got = kernel_read(kernel.fd);
    // The link is made off the io thread after the attach, before readiness:
    // wait for it (bounded), as a reader of /dev/etherd would.
    const auto link = lab.options.etherd_dir / "e1.2";
    for (int i = 0; i < 500 && !fs::is_symlink(fs::symlink_status(link)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::error_code ec;
    linked = fs::read_symlink(link, ec) == "/dev/nbd9";
    ::kill(::getpid(), SIGINT);
  });
  CHECK(code == exit_ok);
  CHECK(served.ready);
  CHECK(served.device == "/dev/nbd9");
  REQUIRE(got);
  CHECK(std::memcmp(got->data(), lab.target.disk.data(), 512) == 0);
  CHECK(linked);
  CHECK(kernel.disconnects == 1);
  CHECK_FALSE(fs::exists(fs::symlink_status(lab.options.etherd_dir / "e1.2")));
  CHECK(kernel.request.backend_id == "aoe-nbd:e1.2");
  CHECK(kernel.request.size_bytes == lab.target.disk.size());
  // Above the deadline: it fires only for requests nobody serves any more
  CHECK(kernel.request.timeout_seconds == 120);
  CHECK(kernel.request.dead_conn_timeout_seconds == 300);
}

TEST_CASE("test-daemon-kernel-serving-outside-disconnect-exits-ok") {
  Serving lab;
  auto& kernel = lab.kernel;
  // nbd-client -d: the kernel drops the configuration and shuts the socket.
  int code = lab.run([&] {
    {
      std::lock_guard lock(kernel.mutex);
      kernel.status = nbd::DeviceStatus::disconnected;
    }
    kernel.shut();
  });
  CHECK(code == exit_ok);
  CHECK(kernel.disconnects == 0);
}

TEST_CASE("test-daemon-kernel-serving-dead-sockets-fail") {
  Serving lab;
  auto& kernel = lab.kernel;
  // A request outlived its timeout: the kernel shuts the socket but keeps
  // the device configured (netlink), or cannot say (ioctl).
  kernel.tells_outside_disconnect = GENERATE(true, false);
  int code = lab.run([&] { kernel.shut(); });
  CHECK(code == exit_failed);  // systemd's Restart=on-failure attaches again
  CHECK(kernel.disconnects == 1);  // a dead configuration would pin /dev/nbd9
  CHECK_FALSE(fs::exists(fs::symlink_status(lab.options.etherd_dir / "e1.2")));
}

TEST_CASE("test-daemon-kernel-serving-attach-failure-exit-codes") {
  Serving lab;
  auto [error, expected] = GENERATE(std::pair{std::error_code(nbd::attach_errc::module_missing), int(exit_no_nbd)},
                                    std::pair{std::error_code(nbd::attach_errc::permission_denied), int(exit_permission)},
                                    std::pair{std::error_code(nbd::attach_errc::device_busy), int(exit_failed)});
  lab.kernel.attach_error = error;
  CHECK(lab.run() == expected);
  CHECK_FALSE(lab.served.ready);
  CHECK_FALSE(fs::exists(lab.options.etherd_dir));
}

TEST_CASE("test-daemon-kernel-request-timeout") {
  CHECK(kernel_request_timeout(60, 1, 0) == 0);
  CHECK(kernel_request_timeout(0, 1, 300) == 0);
  CHECK(kernel_request_timeout(60, 1, 300) == 120);
  CHECK(kernel_request_timeout(60, 2, 0) == 120);
  CHECK(kernel_request_timeout(5, 4, 300) == 35);
  CHECK(kernel_request_timeout(0.5, 2, 0) == 31);
}

TEST_CASE("test-daemon-kernel-serving-adopts-orphan") {
  Serving lab;
  auto& kernel = lab.kernel;
  kernel.orphan = 9;
  lab.leave_record(lab.our_disk());  // the same disk as the predecessor's
  // The kernel resends what it held on the adopted socket; then aoe-detach.
  std::optional<std::array<std::byte, 512>> got;
  int code = lab.run([&] {
    got = kernel_read(kernel.fd);
    ::kill(::getpid(), SIGINT);
  });
  CHECK(code == exit_ok);
  CHECK(kernel.adopted);
  CHECK(lab.served.device == "/dev/nbd9");
  REQUIRE(got);
  CHECK(std::memcmp(got->data(), lab.target.disk.data(), 512) == 0);
  CHECK(kernel.disconnects == 1);
}

TEST_CASE("test-daemon-kernel-serving-live-orphan-refused") {
  Serving lab;
  lab.kernel.orphan = 9;
  lab.kernel.orphan_live = true;  // someone serves it: the kernel drops our socket
  CHECK(lab.run() == exit_failed);
  CHECK_FALSE(lab.served.ready);
  CHECK(lab.kernel.disconnects == 0);
  CHECK_FALSE(fs::exists(lab.options.etherd_dir));
}

TEST_CASE("test-daemon-kernel-serving-sigterm-leaves-device-in-use") {
  Serving lab;
  auto& kernel = lab.kernel;
  kernel.adoptable = true;
  kernel.in_use = "mounted on /mnt";
  int code = lab.run([&] { ::kill(::getpid(), SIGTERM); });
  CHECK(code == exit_ok);
  CHECK(lab.served.kept);
  CHECK(kernel.disconnects == 0);
  // the link waits for the successor, like the device
  CHECK(fs::read_symlink(lab.options.etherd_dir / "e1.2") == "/dev/nbd9");
}

TEST_CASE("test-daemon-kernel-serving-attach-records-the-disk") {
  Serving lab;
  std::optional<DiskRecord> recorded;
  int code = lab.run([&] {
    // Written on the io thread once attached: wait for it (bounded).
    for (int i = 0; i < 500 && !fs::exists(disk_record_path("e1.2")); ++i) std::this_thread::sleep_for(10ms);
    std::ifstream in(disk_record_path("e1.2"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    recorded = parse_record(text);
    ::kill(::getpid(), SIGINT);
  });
  CHECK(code == exit_ok);
  REQUIRE(recorded);
  CHECK(*recorded == lab.our_disk());
  CHECK(recorded->serial == "FAKE0001");
  CHECK_FALSE(fs::exists(disk_record_path("e1.2")));  // detached for good: nothing to adopt
}

TEST_CASE("test-daemon-kernel-serving-adoption-refused-other-disk") {
  Serving lab;
  auto& kernel = lab.kernel;
  kernel.orphan = 9;
  DiskRecord before = lab.our_disk();
  // What the device served; e1.2 now answers with another disk (serial,
  // model or capacity differ).
  const int what = GENERATE(0, 1, 2);
  if (what == 0) before.serial = "OTHER0001";
  if (what == 1) before.model = "Another disk";
  if (what == 2) before.sectors += 8;
  lab.leave_record(before);
  CHECK(lab.run() == exit_failed);
  CHECK_FALSE(kernel.adopted);
  CHECK(kernel.orphan_disconnects == 1);  // the held I/O fails now
  CHECK_FALSE(lab.served.ready);
  CHECK_FALSE(lab.wrote_anything());
  CHECK_FALSE(fs::exists(disk_record_path("e1.2")));
}

namespace {

// A READ of sector 0 the kernel sends and waits for; false if it could not.
bool send_read(int fd) {
  std::array<std::byte, 28> req{};
  put_be(&req[0], 0x25609513, 4);
  put_be(&req[24], 512, 4);
  return ::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size());
}

}  // namespace

TEST_CASE("test-daemon-kernel-serving-sigint-ends-with-deadline-0") {
  Serving lab(0);  // retries forever
  auto& kernel = lab.kernel;
  lab.target.silent = true;  // gone, with a read pending
  bool sent = false;
  const auto start = std::chrono::steady_clock::now();
  int code = lab.run([&] {
    sent = send_read(kernel.fd);
    std::this_thread::sleep_for(300ms);
    ::kill(::getpid(), SIGINT);  // aoe-detach
  });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(sent);
  CHECK(code == exit_ok);
  CHECK(kernel.disconnects == 1);  // the kernel fails what it held
  CHECK(took < AttachedTarget::stop_grace + 3s);
}

TEST_CASE("test-daemon-kernel-serving-second-sigterm-leaves-requests") {
  Serving lab(0);
  auto& kernel = lab.kernel;
  kernel.adoptable = true;
  kernel.in_use = "mounted on /mnt";
  lab.target.silent = true;
  std::optional<ssize_t> answer;
  bool sent = false;
  const auto start = std::chrono::steady_clock::now();
  int code = lab.run([&] {
    sent = send_read(kernel.fd);
    std::this_thread::sleep_for(300ms);
    ::kill(::getpid(), SIGTERM);  // leaves the device in use to a successor, and drains
    std::this_thread::sleep_for(300ms);
    ::kill(::getpid(), SIGTERM);  // and now within seconds
    std::array<std::byte, 16> reply{};
    answer = ::read(kernel.fd, reply.data(), reply.size());
  });
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(sent);
  CHECK(code == exit_ok);
  CHECK(lab.served.kept);
  CHECK(kernel.disconnects == 0);
  REQUIRE(answer);
  CHECK(*answer == 0);  // no reply: the connection closed, the kernel holds the read for a successor
  CHECK(took < AttachedTarget::stop_grace + 3s);
  CHECK(fs::exists(disk_record_path("e1.2")));  // for the successor to check
}

// A planned handover waits for a quiet moment: a request the kernel is
// still sending when SIGTERM comes (half a header in the socket) is read
// and answered, not left on a closed connection to wait for its timeout.
TEST_CASE("test-daemon-kernel-serving-sigterm-answers-before-handover") {
  Serving lab;
  auto& kernel = lab.kernel;
  kernel.adoptable = true;
  kernel.in_use = "mounted on /mnt";
  std::array<std::byte, 28> req{};
  put_be(&req[0], 0x25609513, 4);  // READ of the first sector, cookie 78
  put_be(&req[8], 78, 8);
  put_be(&req[24], 512, 4);
  bool answered = false;
  int code = lab.run([&] {
    // Serving (the link made) before the signal: else it cancels the attach.
    for (int i = 0; i < 500 && !fs::is_symlink(fs::symlink_status(lab.options.etherd_dir / "e1.2")); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(::write(kernel.fd, req.data(), 10) == 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(::getpid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    REQUIRE(::write(kernel.fd, req.data() + 10, req.size() - 10) == static_cast<ssize_t>(req.size() - 10));
    std::array<std::byte, 16 + 512> reply{};
    answered = read_all(kernel.fd, reply.data(), reply.size()) && reply[15] == std::byte{78} &&
               std::memcmp(reply.data() + 16, lab.target.disk.data(), 512) == 0;
  });
  CHECK(code == exit_ok);
  CHECK(lab.served.kept);
  CHECK(kernel.disconnects == 0);
  CHECK(answered);
}
