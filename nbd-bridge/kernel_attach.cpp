// kernel_attach.cpp: generic netlink (libnl-genl) and legacy ioctl attach of
// the kernel nbd driver (doc nbd-protocol §5).  OS specifics stay in the
// small helpers of the first half; the public functions only sequence them.
#include "nbd-bridge/kernel_attach.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <linux/nbd-netlink.h>
#include <linux/nbd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "initiator/log.h"
#include "initiator/wire.h"

namespace aoe::nbd {

namespace {

// How long connect() waits for an ioctl-started device to come up (its
// /sys/block/nbdN/pid appears once NBD_DO_IT started it).
constexpr auto ioctl_start_timeout = std::chrono::seconds(5);

class AttachCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "aoe-nbd-attach"; }
  std::string message(int value) const override {
    switch (static_cast<attach_errc>(value)) {
      case attach_errc::module_missing:
        // The fact only: the tools add what to do (aoe-attach: modprobe or --socket).
        return "the kernel nbd driver is not loaded: no generic netlink family \"nbd\" and no /dev/nbd0";
      case attach_errc::permission_denied:
        return "attaching or detaching /dev/nbdN needs root (CAP_SYS_ADMIN)";
      case attach_errc::device_busy:
        return "the nbd device is already in use: name another --device or leave it out";
      case attach_errc::no_such_device: return "no such nbd device";
      case attach_errc::no_free_device: return "every /dev/nbdN is in use";
      case attach_errc::not_connected: return "the nbd device is not connected";
      case attach_errc::bad_block_size: return "block size must be a power of two from 512 to 4096";
      case attach_errc::bad_size: return "the device size must not be zero";
      case attach_errc::no_sockets: return "no socket to attach";
      case attach_errc::not_a_target_name: return "not an AoE target name (want eSHELF.SLOT)";
      case attach_errc::not_our_link: return "the /dev/etherd link points to another device";
      case attach_errc::netlink_failure: return "generic netlink request to the nbd driver failed";
    }
    return "unknown attach error";
  }
};

std::error_code errno_code(int err) noexcept {
  switch (err) {
    case EPERM:
    case EACCES: return attach_errc::permission_denied;
    case EBUSY: return attach_errc::device_busy;
    default: return {err, std::system_category()};
  }
}

std::string device_path_of(std::uint32_t index) { return "/dev/nbd" + std::to_string(index); }

std::filesystem::path sysfs_dir_of(std::uint32_t index) {
  return "/sys/block/nbd" + std::to_string(index);
}

// /sys/block/nbdN/pid exists while the device runs (created when it starts,
// removed with its configuration).
bool sysfs_running(std::uint32_t index) {
  std::error_code ignored;
  return std::filesystem::exists(sysfs_dir_of(index) / "pid", ignored);
}

// ---------------------------------------------------------------- generic netlink

struct NlSockFree {
  void operator()(nl_sock* s) const noexcept { nl_socket_free(s); }
};
using NlSock = std::unique_ptr<nl_sock, NlSockFree>;

struct NlMsgFree {
  void operator()(nl_msg* m) const noexcept { nlmsg_free(m); }
};
using NlMsg = std::unique_ptr<nl_msg, NlMsgFree>;

using ReplyHandler = std::function<void(nlattr* const* attrs)>;

// One request/reply exchange: the reply attributes go to `on_reply`, the
// kernel's errno from the NLMSG_ERROR to `error` (libnl's own codes lose it).
struct Exchange {
  ReplyHandler on_reply;
  int error = 0;
};

int on_valid(nl_msg* msg, void* arg) {
  auto* x = static_cast<Exchange*>(arg);
  nlattr* attrs[NBD_ATTR_MAX + 1] = {};
  if (genlmsg_parse(nlmsg_hdr(msg), 0, attrs, NBD_ATTR_MAX, nullptr) == 0 && x->on_reply)
    x->on_reply(attrs);
  return NL_OK;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  static_cast<Exchange*>(arg)->error = -err->error;
  return NL_STOP;
}

// A genl socket with the "nbd" family resolved.
struct Genl {
  NlSock sock;
  int family = -1;
};

// Resolves the family; "missing" (not an error) when the kernel has no nbd
// family (nbd.ko not loaded, or a kernel older than the genl interface).
std::optional<Genl> open_genl(std::error_code& ec) {
  ec.clear();
  Genl g{NlSock(nl_socket_alloc()), -1};
  if (!g.sock) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return std::nullopt;
  }
  if (int rc = genl_connect(g.sock.get()); rc < 0) {
    log::debug("nbd: generic netlink unavailable: {}", nl_geterror(rc));
    return std::nullopt;
  }
  g.family = genl_ctrl_resolve(g.sock.get(), NBD_GENL_FAMILY_NAME);
  if (g.family < 0) return std::nullopt;
  return g;
}

NlMsg new_request(const Genl& g, std::uint8_t command) {
  NlMsg msg(nlmsg_alloc());
  if (msg && !genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, g.family, 0, 0, command,
                          NBD_GENL_VERSION))
    msg.reset();
  return msg;
}

std::error_code transact(Genl& g, NlMsg msg, ReplyHandler on_reply = {}) {
  Exchange x{std::move(on_reply), 0};
  nl_socket_modify_cb(g.sock.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &x);
  nl_socket_modify_err_cb(g.sock.get(), NL_CB_CUSTOM, on_error, &x);
  const int rc = nl_send_sync(g.sock.get(), msg.release());  // frees the message
  if (x.error != 0) return errno_code(x.error);
  if (rc < 0) {
    log::error("nbd: generic netlink: {}", nl_geterror(rc));
    return attach_errc::netlink_failure;
  }
  return {};
}

// Any nla_put* failure means the message buffer is too small: never for
// these few attributes, but reported rather than ignored.
std::error_code put_failed() { return std::make_error_code(std::errc::no_buffer_space); }

std::error_code genl_connect_device(Genl& g, const AttachRequest& r, std::uint32_t& index) {
  NlMsg msg = new_request(g, NBD_CMD_CONNECT);
  if (!msg) return put_failed();
  nl_msg* m = msg.get();
  int rc = 0;
  if (r.index) rc |= nla_put_u32(m, NBD_ATTR_INDEX, *r.index);
  rc |= nla_put_u64(m, NBD_ATTR_SIZE_BYTES, r.size_bytes);
  rc |= nla_put_u64(m, NBD_ATTR_BLOCK_SIZE_BYTES, r.block_size);
  rc |= nla_put_u64(m, NBD_ATTR_TIMEOUT, r.timeout_seconds);
  rc |= nla_put_u64(m, NBD_ATTR_SERVER_FLAGS, r.flags);
  if (r.dead_conn_timeout_seconds)
    rc |= nla_put_u64(m, NBD_ATTR_DEAD_CONN_TIMEOUT, r.dead_conn_timeout_seconds);
  if (!r.backend_id.empty()) rc |= nla_put_string(m, NBD_ATTR_BACKEND_IDENTIFIER, r.backend_id.c_str());
  nlattr* sockets = nla_nest_start(m, NBD_ATTR_SOCKETS);
  if (!sockets) return put_failed();
  for (int fd : r.sockets) {
    nlattr* item = nla_nest_start(m, NBD_SOCK_ITEM);
    if (!item) return put_failed();
    rc |= nla_put_u32(m, NBD_SOCK_FD, static_cast<std::uint32_t>(fd));
    nla_nest_end(m, item);
  }
  nla_nest_end(m, sockets);
  if (rc != 0) return put_failed();

  // The reply carrying NBD_ATTR_INDEX comes before the ACK (§5.3).
  std::optional<std::uint32_t> got;
  auto ec = transact(g, std::move(msg), [&](nlattr* const* attrs) {
    if (attrs[NBD_ATTR_INDEX]) got = nla_get_u32(attrs[NBD_ATTR_INDEX]);
  });
  if (ec) return ec;
  if (!got && !r.index) {
    log::error("nbd: CONNECT succeeded but the kernel named no device");
    return attach_errc::netlink_failure;
  }
  index = got.value_or(r.index.value_or(0));
  return {};
}

std::error_code genl_simple(Genl& g, std::uint8_t command, std::uint32_t index,
                            std::optional<std::uint64_t> size = {}, const std::string& backend = {}) {
  NlMsg msg = new_request(g, command);
  if (!msg) return put_failed();
  int rc = nla_put_u32(msg.get(), NBD_ATTR_INDEX, index);
  if (size) rc |= nla_put_u64(msg.get(), NBD_ATTR_SIZE_BYTES, *size);
  if (!backend.empty()) rc |= nla_put_string(msg.get(), NBD_ATTR_BACKEND_IDENTIFIER, backend.c_str());
  if (rc != 0) return put_failed();
  return transact(g, std::move(msg));
}

DeviceStatus genl_status(Genl& g, std::uint32_t index, std::error_code& ec) {
  DeviceStatus result = DeviceStatus::missing;
  NlMsg msg = new_request(g, NBD_CMD_STATUS);
  if (!msg || nla_put_u32(msg.get(), NBD_ATTR_INDEX, index) != 0) {
    ec = put_failed();
    return result;
  }
  // Reply: DEVICE_LIST { DEVICE_ITEM { DEVICE_INDEX, DEVICE_CONNECTED } }, empty if no such device.
  ec = transact(g, std::move(msg), [&](nlattr* const* attrs) {
    nlattr* list = attrs[NBD_ATTR_DEVICE_LIST];
    if (!list) return;
    int rem = nla_len(list);
    for (auto* item = static_cast<nlattr*>(nla_data(list)); nla_ok(item, rem); item = nla_next(item, &rem)) {
      nlattr* dev[NBD_DEVICE_ATTR_MAX + 1] = {};
      if (nla_parse_nested(dev, NBD_DEVICE_ATTR_MAX, item, nullptr) != 0 || !dev[NBD_DEVICE_INDEX] ||
          nla_get_u32(dev[NBD_DEVICE_INDEX]) != index)
        continue;
      const bool connected = dev[NBD_DEVICE_CONNECTED] && nla_get_u8(dev[NBD_DEVICE_CONNECTED]) != 0;
      result = connected ? DeviceStatus::connected : DeviceStatus::disconnected;
    }
  });
  return result;
}

// ---------------------------------------------------------------- legacy ioctls

class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

Fd open_device(std::uint32_t index, std::error_code& ec) {
  Fd fd(::open(device_path_of(index).c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0)
    ec = errno == ENOENT || errno == ENXIO ? attach_errc::no_such_device : errno_code(errno);
  return fd;
}

std::error_code nbd_ioctl(int fd, unsigned long request, unsigned long arg = 0) {
  return ::ioctl(fd, request, arg) < 0 ? errno_code(errno) : std::error_code{};
}

// The first /dev/nbdN that is not running (old kernels have no netlink to ask).
std::optional<std::uint32_t> free_ioctl_device() {
  for (std::uint32_t i = 0;; ++i) {
    std::error_code ignored;
    if (!std::filesystem::exists(sysfs_dir_of(i), ignored)) return std::nullopt;
    if (!sysfs_running(i)) return i;
  }
}

// Sends DISC on every socket, then shuts them down so NBD_DO_IT returns even
// if the server does not close (nbd-client -d does the same pair).
std::error_code ioctl_disconnect(int fd) {
  if (auto ec = nbd_ioctl(fd, NBD_DISCONNECT)) return ec;
  return nbd_ioctl(fd, NBD_CLEAR_SOCK);
}

}  // namespace

const std::error_category& attach_category() noexcept {
  static const AttachCategory category;
  return category;
}

// ---------------------------------------------------------------- Attachment

// The thread that sets up an ioctl device and then stays in NBD_DO_IT.  The
// kernel only accepts NBD_SET_SOCK from the task that set the device up, so
// the whole sequence runs on this one thread.
struct Attachment::IoctlThread {
  enum class Phase { setup, running, ended };

  Fd device;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable changed;
  Phase phase = Phase::setup;
  std::error_code result;  // a setup failure, or how NBD_DO_IT ended

  void finish(Phase p, std::error_code ec) {
    std::lock_guard lock(mutex);
    phase = p;
    result = ec;
    changed.notify_all();
  }

  // nbd-client's order (§5.2): sizes, clear, flags, timeout, sockets, DO_IT.
  void run(AttachRequest r) {
    const int fd = device.get();
    std::error_code ec = nbd_ioctl(fd, NBD_SET_BLKSIZE, r.block_size);
    if (!ec) ec = nbd_ioctl(fd, NBD_SET_SIZE, r.size_bytes);
    if (!ec) ec = nbd_ioctl(fd, NBD_CLEAR_SOCK);
    // Only from here on are the sockets ours to clear: CLEAR_SOCK on a device
    // someone else runs (even a netlink one, which refuses the size ioctls
    // above but not this one) would shut down their sockets.
    const bool ours = !ec;
    if (!ec) ec = nbd_ioctl(fd, NBD_SET_FLAGS, r.flags);
    if (!ec) ec = nbd_ioctl(fd, NBD_SET_TIMEOUT, r.timeout_seconds);
    for (int s : r.sockets)
      if (!ec) ec = nbd_ioctl(fd, NBD_SET_SOCK, static_cast<unsigned long>(s));
    if (ec) {
      if (ours) nbd_ioctl(fd, NBD_CLEAR_SOCK);
      finish(Phase::ended, ec);
      return;
    }
    finish(Phase::running, {});
    // Blocks until the device is disconnected or its socket dies.
    std::error_code done = nbd_ioctl(fd, NBD_DO_IT);
    nbd_ioctl(fd, NBD_CLEAR_SOCK);  // fails whatever is left (§5.2)
    finish(Phase::ended, done);
  }

  // Waits for the setup, then until the device runs or NBD_DO_IT failed.
  std::error_code wait_started(std::uint32_t index) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return phase != Phase::setup; });
    const auto deadline = std::chrono::steady_clock::now() + ioctl_start_timeout;
    while (phase == Phase::running && !sysfs_running(index)) {
      if (std::chrono::steady_clock::now() >= deadline) return std::make_error_code(std::errc::timed_out);
      changed.wait_for(lock, std::chrono::milliseconds(10));
    }
    return phase == Phase::ended ? (result ? result : attach_errc::not_connected) : std::error_code{};
  }

  void stop() {
    if (!thread.joinable()) return;
    bool running = false;
    {
      std::lock_guard lock(mutex);
      running = phase == Phase::running;
    }
    if (running) {
      if (auto ec = ioctl_disconnect(device.get()))
        log::warning("nbd: disconnecting the ioctl device: {}", ec.message());
    }
    thread.join();
  }
};

Attachment::Attachment(std::uint32_t index, Interface interface, std::string backend_id,
                       std::unique_ptr<IoctlThread> ioctl)
    : index_(index), interface_(interface), backend_id_(std::move(backend_id)), ioctl_(std::move(ioctl)) {}

Attachment::Attachment(Attachment&&) noexcept = default;

Attachment& Attachment::operator=(Attachment&& other) noexcept {
  if (this != &other) {
    if (ioctl_) ioctl_->stop();
    index_ = other.index_;
    interface_ = other.interface_;
    backend_id_ = std::move(other.backend_id_);
    ioctl_ = std::move(other.ioctl_);
  }
  return *this;
}

Attachment::~Attachment() {
  if (ioctl_) ioctl_->stop();
}

std::string Attachment::device_path() const { return device_path_of(index_); }

std::error_code Attachment::resize(std::uint64_t size_bytes) {
  if (size_bytes == 0) return attach_errc::bad_size;
  if (interface_ == Interface::ioctl) return nbd_ioctl(ioctl_->device.get(), NBD_SET_SIZE, size_bytes);
  std::error_code ec;
  auto g = open_genl(ec);
  if (!g) return ec ? ec : attach_errc::module_missing;
  return genl_simple(*g, NBD_CMD_RECONFIGURE, index_, size_bytes, backend_id_);
}

std::error_code Attachment::disconnect() {
  if (interface_ == Interface::ioctl) {
    ioctl_->stop();
    return {};
  }
  return nbd::disconnect(index_);
}

// ---------------------------------------------------------------- free functions

std::optional<Attachment> connect(const AttachRequest& request, std::error_code& ec) {
  ec.clear();
  const auto bs = request.block_size;
  if (bs < 512 || bs > 4096 || (bs & (bs - 1)) != 0) {
    ec = attach_errc::bad_block_size;
    return std::nullopt;
  }
  if (request.size_bytes == 0) {
    ec = attach_errc::bad_size;
    return std::nullopt;
  }
  if (request.sockets.empty()) {
    ec = attach_errc::no_sockets;
    return std::nullopt;
  }

  if (!request.force_ioctl) {
    auto g = open_genl(ec);
    if (ec) return std::nullopt;
    if (g) {
      std::uint32_t index = 0;
      if ((ec = genl_connect_device(*g, request, index))) return std::nullopt;
      return Attachment(index, Interface::netlink, request.backend_id, nullptr);
    }
    std::error_code ignored;
    if (!std::filesystem::exists("/dev/nbd0", ignored)) {
      ec = attach_errc::module_missing;
      return std::nullopt;
    }
    // nbd's genl family is not netns-aware: `ip netns exec` lands here too.
    log::notice("nbd: no generic netlink family \"nbd\" (an old kernel, or a network namespace "
                "other than the host's): using the legacy ioctl interface");
  }

  const auto index = request.index ? request.index : free_ioctl_device();
  if (!index) {
    ec = attach_errc::no_free_device;
    return std::nullopt;
  }
  // The ioctls do not refuse a running device: nbd-client's sequence would
  // resize it and CLEAR_SOCK would shut down its owner's sockets (§5.2).
  // Only a setup racing ours between this check and CLEAR_SOCK slips through.
  if (sysfs_running(*index)) {
    ec = attach_errc::device_busy;
    return std::nullopt;
  }
  auto t = std::make_unique<Attachment::IoctlThread>();
  t->device = open_device(*index, ec);
  if (ec) return std::nullopt;
  t->thread = std::thread(&Attachment::IoctlThread::run, t.get(), request);
  if ((ec = t->wait_started(*index))) {
    t->stop();
    return std::nullopt;
  }
  return Attachment(*index, Interface::ioctl, request.backend_id, std::move(t));
}

std::error_code disconnect(std::uint32_t index) {
  std::error_code ec;
  if (auto g = open_genl(ec)) return genl_simple(*g, NBD_CMD_DISCONNECT, index);
  if (ec) return ec;
  Fd fd = open_device(index, ec);
  return ec ? ec : ioctl_disconnect(fd.get());
}

DeviceStatus status(std::uint32_t index, std::error_code& ec) {
  ec.clear();
  if (auto g = open_genl(ec)) return genl_status(*g, index, ec);
  if (ec) return DeviceStatus::missing;
  std::error_code ignored;
  if (!std::filesystem::exists(sysfs_dir_of(index), ignored)) return DeviceStatus::missing;
  return sysfs_running(index) ? DeviceStatus::connected : DeviceStatus::disconnected;
}

namespace {

// The device or one of its partitions (/dev/nbd0p1), however it was named.
bool names_device(const std::string& source, std::uint32_t index) {
  std::error_code ec;
  const auto real = std::filesystem::canonical(source, ec);
  if (ec) return false;
  const std::string dev = device_path_of(index), path = real.string();
  return path == dev || (path.starts_with(dev + "p") && path.size() > dev.size() + 1);
}

std::optional<std::string> mounted_on(std::uint32_t index) {
  std::ifstream mounts("/proc/self/mounts");
  std::string source, where, rest;
  while (mounts >> source >> where && std::getline(mounts, rest))
    if (source.starts_with("/dev/") && names_device(source, index)) return where;
  return std::nullopt;
}

// Device mapper, md and the like stacked on the device or a partition.
std::optional<std::string> first_holder(std::uint32_t index) {
  const auto dir = sysfs_dir_of(index);
  const std::string name = dir.filename().string();
  std::error_code ec;
  std::vector<std::filesystem::path> holders{dir / "holders"};
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().filename().string().starts_with(name + "p")) holders.push_back(entry.path() / "holders");
  for (const auto& h : holders)
    for (const auto& entry : std::filesystem::directory_iterator(h, ec)) return entry.path().filename().string();
  return std::nullopt;
}

}  // namespace

std::optional<std::string> in_use(std::uint32_t index) {
  if (auto where = mounted_on(index)) return "mounted on " + *where;
  if (auto holder = first_holder(index)) return "held by " + *holder;
  // Mounts in other mount namespaces and other exclusive openers: the
  // kernel refuses a second exclusive open.
  const int fd = ::open(device_path_of(index).c_str(), O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
  else if (errno == EBUSY) return "opened exclusively (mounted in another namespace, or a file system or "
                                  "volume manager holds it)";
  return std::nullopt;
}

std::optional<std::uint32_t> parse_device_path(std::string_view path) noexcept {
  if (path.starts_with("/dev/")) path.remove_prefix(5);
  if (!path.starts_with("nbd")) return std::nullopt;
  path.remove_prefix(3);
  std::uint32_t index = 0;
  const auto [end, err] = std::from_chars(path.data(), path.data() + path.size(), index);
  if (err != std::errc{} || end != path.data() + path.size() || path.empty()) return std::nullopt;
  return index;
}

// ---------------------------------------------------------------- /dev/etherd links

std::error_code create_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir) {
  const auto name = wire::canonical_target(target);
  if (!name) return attach_errc::not_a_target_name;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ec;
  const auto link = dir / *name;
  // Never replace a real node (the kernel aoe driver's own /dev/etherd/eS.L).
  const auto st = std::filesystem::symlink_status(link, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_symlink(st))
    return std::make_error_code(std::errc::file_exists);
  // A stale link is replaced atomically: new link beside it, then rename.
  const auto tmp = dir / ("." + *name + ".tmp" + std::to_string(::getpid()));
  std::filesystem::remove(tmp, ec);
  std::filesystem::create_symlink(device_path_of(index), tmp, ec);
  if (ec) return ec;
  std::filesystem::rename(tmp, link, ec);
  if (ec) std::filesystem::remove(tmp);
  return ec;
}

std::optional<std::uint32_t> resolve_etherd_link(std::string_view target, std::error_code& ec,
                                                 const std::filesystem::path& dir) {
  ec.clear();
  const auto name = wire::canonical_target(target);
  if (!name) {
    ec = attach_errc::not_a_target_name;
    return std::nullopt;
  }
  auto points_to = std::filesystem::read_symlink(dir / *name, ec);
  if (ec) return std::nullopt;
  // udev's links are relative ("../nbd0"), ours absolute.
  if (points_to.is_relative() && points_to.parent_path() == "..") points_to = points_to.filename();
  const auto index = parse_device_path(points_to.string());
  if (!index) ec = attach_errc::not_our_link;
  return index;
}

std::error_code remove_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir) {
  std::error_code ec;
  const auto current = resolve_etherd_link(target, ec, dir);
  if (ec == std::errc::no_such_file_or_directory) return {};
  if (ec) return ec;
  if (*current != index) return attach_errc::not_our_link;
  std::filesystem::remove(dir / *wire::canonical_target(target), ec);
  return ec;
}

}  // namespace aoe::nbd
