// kernel_attach.cpp: the facade over the two kernel interfaces: netlink
// where the kernel has it, the legacy ioctls otherwise (docs/nbd-protocol.md §5).
// The mechanisms live in netlink.cpp and ioctl_attach.cpp; this file only
// validates and sequences.
#include "nbd-bridge/kernel_attach.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <utility>

#include <poll.h>

#include "base/log.h"
#include "nbd-bridge/ioctl_attach.h"
#include "nbd-bridge/netlink.h"

namespace aoe::nbd {

Attachment::Attachment(std::uint32_t index, AttachMechanism mechanism, std::string backend_id,
                       std::unique_ptr<IoctlThread> ioctl)
    : index_(index), mechanism_(mechanism), backend_id_(std::move(backend_id)), ioctl_(std::move(ioctl)) {}

Attachment::Attachment(Attachment&&) noexcept = default;

Attachment& Attachment::operator=(Attachment&& other) noexcept {
  if (this != &other) {
    if (ioctl_) ioctl_->stop();
    index_ = other.index_;
    mechanism_ = other.mechanism_;
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
  if (mechanism_ == AttachMechanism::ioctl) return ioctl_->resize(size_bytes);
  std::error_code ec;
  auto g = netlink::open_genl(ec);
  if (!g) return ec ? ec : attach_errc::module_missing;
  return netlink::resize(*g, index_, size_bytes, backend_id_);
}

std::error_code Attachment::set_timeouts(std::uint64_t request_seconds, std::uint64_t dead_conn_seconds) {
  // Only adopted devices renew them, and adoption is netlink's.
  if (mechanism_ == AttachMechanism::ioctl) return std::make_error_code(std::errc::not_supported);
  std::error_code ec;
  auto g = netlink::open_genl(ec);
  if (!g) return ec ? ec : attach_errc::module_missing;
  return netlink::set_timeouts(*g, index_, request_seconds, dead_conn_seconds, backend_id_);
}

std::error_code Attachment::disconnect() {
  if (mechanism_ == AttachMechanism::ioctl) {
    ioctl_->stop();
    return {};
  }
  return nbd::disconnect(index_);
}

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
    auto g = netlink::open_genl(ec);
    if (ec) return std::nullopt;
    if (g) {
      std::uint32_t index = 0;
      if ((ec = netlink::connect_device(*g, request, index))) return std::nullopt;
      return Attachment(index, AttachMechanism::netlink, request.backend_id, nullptr);
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
  // resize it and CLEAR_SOCK would shut down its owner's sockets (docs/nbd-protocol.md §5.2).
  // Only a setup racing ours between this check and CLEAR_SOCK slips through.
  if (sysfs_running(*index)) {
    ec = attach_errc::device_busy;
    return std::nullopt;
  }
  auto t = IoctlThread::start(*index, request, ec);
  if (!t) return std::nullopt;
  return Attachment(*index, AttachMechanism::ioctl, request.backend_id, std::move(t));
}

std::vector<Backend> backends() {
  std::vector<Backend> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/block", ec)) {
    const auto index = parse_device_path(entry.path().filename().string());
    if (!index) continue;
    std::ifstream in(entry.path() / "backend");
    std::string line;
    if (std::getline(in, line) && !line.empty()) found.push_back({*index, line});
  }
  return found;
}

std::optional<std::uint32_t> find_backend(std::string_view backend_id) {
  for (const auto& b : backends())
    if (b.id == backend_id) return b.index;
  return std::nullopt;
}

std::optional<Attachment> adopt(std::uint32_t index, const AttachRequest& request, std::error_code& ec) {
  ec.clear();
  if (request.sockets.empty()) {
    ec = attach_errc::no_sockets;
    return std::nullopt;
  }
  auto g = netlink::open_genl(ec);
  if (!g) {
    if (!ec) ec = attach_errc::module_missing;
    return std::nullopt;
  }
  if ((ec = netlink::reconnect(*g, index, request.sockets, request.backend_id))) return std::nullopt;
  return Attachment(index, AttachMechanism::netlink, request.backend_id, nullptr);
}

bool kernel_holds(int peer) {
  pollfd p{peer, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 0 || (p.revents & (POLLRDHUP | POLLHUP)) == 0;
}

std::error_code disconnect(std::uint32_t index) {
  std::error_code ec;
  if (auto g = netlink::open_genl(ec)) return netlink::disconnect(*g, index);
  if (ec) return ec;
  Fd fd = open_device(index, ec);
  return ec ? ec : ioctl_disconnect(fd.get());
}

DeviceStatus status(std::uint32_t index, std::error_code& ec) {
  ec.clear();
  if (auto g = netlink::open_genl(ec)) return netlink::status(*g, index, ec);
  if (ec) return DeviceStatus::missing;
  std::error_code ignored;
  if (!std::filesystem::exists(sysfs_dir_of(index), ignored)) return DeviceStatus::missing;
  return sysfs_running(index) ? DeviceStatus::connected : DeviceStatus::disconnected;
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

}  // namespace aoe::nbd
