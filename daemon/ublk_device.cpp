#include "daemon/ublk_device.h"

#include <fcntl.h>
#include <liburing.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include <boost/asio/post.hpp>

#include "base/error_category.h"
#include "base/log.h"

extern char** environ;

namespace aoe::daemon {

namespace {

const char* describe(ublk_errc e) noexcept {
  switch (e) {
    case ublk_errc::module_missing: return "the kernel has no ublk driver (module ublk_drv)";
  }
  return nullptr;
}

std::error_code errno_code(int e) { return {e, std::system_category()}; }

// `modprobe -q ublk_drv`, for a driver built as a module and not loaded yet.
void load_module() {
  const char* argv[] = {"modprobe", "-q", "ublk_drv", nullptr};
  pid_t pid = 0;
  if (::posix_spawnp(&pid, "modprobe", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// /dev/ublk-control exists, or `modprobe ublk_drv` makes it.
bool ublk_available() {
  if (::access(ublk_control_path, F_OK) == 0) return true;
  load_module();
  return ::access(ublk_control_path, F_OK) == 0;
}

}  // namespace

const std::error_category& ublk_category() noexcept {
  static const base::EnumCategory<ublk_errc, describe> category("ublk");
  return category;
}

std::optional<std::uint32_t> parse_ublk_path(std::string_view path) noexcept {
  if (path.starts_with("/dev/")) path.remove_prefix(5);
  if (!path.starts_with("ublkb")) return std::nullopt;
  path.remove_prefix(5);
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), id);
  if (ec != std::errc() || end != path.data() + path.size() || path.empty()) return std::nullopt;
  return id;
}

// ---- control

std::unique_ptr<UblkControl> UblkControl::open(std::error_code& ec) {
  if (!ublk_available()) {
    ec = ublk_errc::module_missing;
    return nullptr;
  }
  const int fd = ::open(ublk_control_path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ec = errno_code(errno);
    return nullptr;
  }
  // Control commands are 32 bytes: they need the 128-byte SQEs.
  auto ring = std::make_unique<io_uring>();
  if (int rc = io_uring_queue_init(4, ring.get(), IORING_SETUP_SQE128); rc < 0) {
    ::close(fd);
    ec = errno_code(-rc);
    return nullptr;
  }
  std::unique_ptr<UblkControl> control(new UblkControl(fd, std::move(ring)));
  std::uint64_t features = 0;
  // Kernels before 6.5 refuse GET_FEATURES: theirs is the 6.1 set, and legacy command numbers.
  if (!control->command(ublk::cmd_get_features, 0, &features, sizeof features)) control->features_ = features;
  return control;
}

UblkControl::UblkControl(int fd, std::unique_ptr<io_uring> ring) : fd_(fd), ring_(std::move(ring)) {}

UblkControl::~UblkControl() {
  io_uring_queue_exit(ring_.get());
  ::close(fd_);
}

std::error_code UblkControl::command(unsigned nr, std::uint32_t id, void* buffer, std::uint16_t len,
                                     std::uint64_t data) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) return errno_code(EBUSY);
  std::memset(sqe, 0, 2 * sizeof *sqe);  // SQE128: the command runs into the second half
  // liburing 2.3 has no helper for URING_CMD: filled by hand.
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  const bool encode = nr == ublk::cmd_get_features || (features_ & ublk::f_cmd_ioctl_encode);
  sqe->cmd_op = encode ? ublk::encode_control(nr) : nr;
  auto* cmd = reinterpret_cast<ublk::ControlCmd*>(sqe->cmd);
  cmd->dev_id = id;
  cmd->queue_id = 0xffff;
  cmd->addr = reinterpret_cast<std::uintptr_t>(buffer);
  cmd->len = len;
  cmd->data[0] = data;
  int rc = io_uring_submit(ring_.get());
  if (rc < 0) return errno_code(-rc);
  io_uring_cqe* cqe = nullptr;
  while ((rc = io_uring_wait_cqe(ring_.get(), &cqe)) == -EINTR) {
  }
  if (rc < 0) return errno_code(-rc);
  const int res = cqe->res;
  io_uring_cqe_seen(ring_.get(), cqe);
  return res < 0 ? errno_code(-res) : std::error_code{};
}

std::error_code UblkControl::add(ublk::DevInfo& info) {
  return command(ublk::cmd_add_dev, info.dev_id, &info, sizeof info);
}

std::error_code UblkControl::set_params(std::uint32_t id, const ublk::Params& params) {
  ublk::Params copy = params;
  copy.len = sizeof copy;
  return command(ublk::cmd_set_params, id, &copy, sizeof copy);
}

std::error_code UblkControl::start(std::uint32_t id, int pid) {
  return command(ublk::cmd_start_dev, id, nullptr, 0, static_cast<std::uint64_t>(pid));
}

std::error_code UblkControl::stop(std::uint32_t id) { return command(ublk::cmd_stop_dev, id, nullptr, 0); }

std::error_code UblkControl::remove(std::uint32_t id) { return command(ublk::cmd_del_dev, id, nullptr, 0); }

std::error_code UblkControl::info(std::uint32_t id, ublk::DevInfo& info) {
  info = {};
  return command(ublk::cmd_get_dev_info, id, &info, sizeof info);
}

std::error_code UblkControl::start_recovery(std::uint32_t id) {
  return command(ublk::cmd_start_user_recovery, id, nullptr, 0);
}

std::error_code UblkControl::end_recovery(std::uint32_t id, int pid) {
  return command(ublk::cmd_end_user_recovery, id, nullptr, 0, static_cast<std::uint64_t>(pid));
}

std::vector<std::uint32_t> UblkControl::devices() {
  std::vector<std::uint32_t> ids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev", ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("ublkc")) continue;
    if (auto id = parse_ublk_path("ublkb" + name.substr(5))) ids.push_back(*id);
  }
  return ids;
}

// ---- one queue

std::unique_ptr<UblkQueueRing> UblkQueueRing::open(boost::asio::io_context& io, std::uint32_t id, unsigned depth,
                                                   bool ioctl_encode, Handler on_completion,
                                                   std::error_code& ec) {
  // The kernel made the node with ADD_DEV; devtmpfs may show it a moment later.
  int fd = -1;
  for (int tries = 0; tries < 100; ++tries) {
    fd = ::open(ublk_char_path(id).c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (fd < 0) {
    ec = errno_code(errno);
    return nullptr;
  }
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t map_bytes = (depth * sizeof(ublk::IoDesc) + page - 1) / page * page;
  void* map = ::mmap(nullptr, map_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, ublk::cmd_buf_offset);
  if (map == MAP_FAILED) {
    ec = errno_code(errno);
    ::close(fd);
    return nullptr;
  }
  auto ring = std::make_unique<io_uring>();
  int rc = io_uring_queue_init(depth, ring.get(), 0);
  const int efd = rc < 0 ? -1 : ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (rc == 0 && efd < 0) rc = -errno;
  if (rc == 0) rc = io_uring_register_eventfd(ring.get(), efd);
  if (rc < 0) {
    ec = errno_code(-rc);
    if (efd >= 0) ::close(efd);
    if (ring->ring_fd > 0) io_uring_queue_exit(ring.get());
    ::munmap(map, map_bytes);
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<UblkQueueRing> q(new UblkQueueRing(io, fd, static_cast<const ublk::IoDesc*>(map), map_bytes,
                                                     std::move(ring), efd, ioctl_encode, std::move(on_completion)));
  q->wait();
  return q;
}

UblkQueueRing::UblkQueueRing(boost::asio::io_context& io, int fd, const ublk::IoDesc* descriptors,
                             std::size_t map_bytes, std::unique_ptr<io_uring> ring, int eventfd, bool ioctl_encode,
                             Handler on_completion)
    : io_(io), fd_(fd), descriptors_(descriptors), map_bytes_(map_bytes), ring_(std::move(ring)),
      event_(io, eventfd), ioctl_encode_(ioctl_encode), on_completion_(std::move(on_completion)) {}

// Closing the ring ends every command still outstanding: for the kernel, the
// server is gone (with user recovery the device is quiesced for a successor).
UblkQueueRing::~UblkQueueRing() {
  *alive_ = false;
  boost::system::error_code ignored;
  event_.close(ignored);
  io_uring_queue_exit(ring_.get());
  ::munmap(const_cast<ublk::IoDesc*>(descriptors_), map_bytes_);
  ::close(fd_);
}

void UblkQueueRing::fetch(std::uint16_t tag, std::byte* buffer) { queue(ublk::io_fetch_req, tag, 0, buffer); }

void UblkQueueRing::commit_and_fetch(std::uint16_t tag, std::int32_t result, std::byte* buffer) {
  queue(ublk::io_commit_and_fetch_req, tag, result, buffer);
}

void UblkQueueRing::queue(unsigned nr, std::uint16_t tag, std::int32_t result, std::byte* buffer) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) {  // more commands than the ring holds: send those first
    io_uring_submit(ring_.get());
    sqe = io_uring_get_sqe(ring_.get());
  }
  if (!sqe) {
    // The ring has an entry per tag (open()), so a submit that went through
    // left room: the kernel refused it, and this tag's request waits for the stop.
    log::error("ublk: no io_uring entry for the command of tag {}", tag);
    return;
  }
  std::memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd_;
  sqe->cmd_op = ioctl_encode_ ? ublk::encode_io(nr) : nr;
  sqe->user_data = tag;
  auto* cmd = reinterpret_cast<ublk::IoCmd*>(sqe->cmd);
  cmd->q_id = 0;
  cmd->tag = tag;
  cmd->result = result;
  cmd->addr = reinterpret_cast<std::uintptr_t>(buffer);
  submit_soon();
}

void UblkQueueRing::submit_soon() {
  if (submit_posted_) return;
  submit_posted_ = true;
  boost::asio::post(io_, [this, alive = alive_] {
    if (!*alive) return;
    submit_posted_ = false;
    if (io_uring_sq_ready(ring_.get()) == 0) return;
    if (int rc = io_uring_submit(ring_.get()); rc < 0)
      log::error("ublk: io_uring_submit: {}", std::strerror(-rc));
  });
}

void UblkQueueRing::wait() {
  event_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [this, alive = alive_](const boost::system::error_code& ec) {
                      if (ec || !*alive) return;
                      std::uint64_t count = 0;
                      [[maybe_unused]] auto n = ::read(event_.native_handle(), &count, sizeof count);
                      reap();
                      if (*alive) wait();
                    });
}

void UblkQueueRing::reap() {
  const auto alive = alive_;  // a handler may destroy us
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(ring_.get(), &cqe) == 0 && cqe) {
    const auto tag = static_cast<std::uint16_t>(cqe->user_data);
    const std::int32_t res = cqe->res;
    io_uring_cqe_seen(ring_.get(), cqe);
    on_completion_(tag, res);
    if (!*alive) return;
  }
}

}  // namespace aoe::daemon
