// ublk_device.h: the kernel's ublk driver (ublk_drv) as ublk serving uses
// it.  UblkControl sends the control commands through /dev/ublk-control
// (each blocks: ublk_serving.cpp makes them on its kernel thread, except
// while nothing serves yet); UblkQueueRing is one queue's /dev/ublkcN: its
// descriptors mapped, and its commands on an io_uring whose completions
// wake the io thread's io_context through an eventfd.
//
// The control sequence follows the kernel's: ADD_DEV, SET_PARAMS, every
// tag fetched, START_DEV (which waits for those fetches, then reads the
// partition table through us); STOP_DEV, close /dev/ublkcN, DEL_DEV.  A
// successor takes a quiesced device over with START_USER_RECOVERY, the
// fetches, END_USER_RECOVERY.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "daemon/ublk_abi.h"
#include "daemon/ublk_queue.h"

struct io_uring;

namespace aoe::daemon {

enum class ublk_errc {
  module_missing = 1,  // no /dev/ublk-control, and modprobe ublk_drv did not make one
};
const std::error_category& ublk_category() noexcept;
inline std::error_code make_error_code(ublk_errc e) noexcept { return {static_cast<int>(e), ublk_category()}; }

inline constexpr const char* ublk_control_path = "/dev/ublk-control";
inline std::string ublk_block_path(std::uint32_t id) { return "/dev/ublkb" + std::to_string(id); }
inline std::string ublk_char_path(std::uint32_t id) { return "/dev/ublkc" + std::to_string(id); }
// "/dev/ublkb3" or "ublkb3" -> 3.
std::optional<std::uint32_t> parse_ublk_path(std::string_view path) noexcept;

class UblkControl {
 public:
  // ublk_errc::module_missing, or why /dev/ublk-control cannot be opened.
  static std::unique_ptr<UblkControl> open(std::error_code& ec);
  ~UblkControl();
  UblkControl(const UblkControl&) = delete;
  UblkControl& operator=(const UblkControl&) = delete;

  // GET_FEATURES (Linux 6.5 on); 0 from older kernels.
  std::uint64_t features() const noexcept { return features_; }
  // Fills info.dev_id with the kernel's choice where it was -1.
  std::error_code add(ublk::DevInfo& info);
  std::error_code set_params(std::uint32_t id, const ublk::Params& params);
  std::error_code start(std::uint32_t id, int pid);
  std::error_code stop(std::uint32_t id);
  std::error_code remove(std::uint32_t id);
  std::error_code info(std::uint32_t id, ublk::DevInfo& info);
  std::error_code start_recovery(std::uint32_t id);
  std::error_code end_recovery(std::uint32_t id, int pid);
  // Every ublk device, by /dev/ublkcN.
  static std::vector<std::uint32_t> devices();

 private:
  UblkControl(int fd, std::unique_ptr<io_uring> ring);
  std::error_code command(unsigned nr, std::uint32_t id, void* buffer, std::uint16_t len, std::uint64_t data = 0);

  int fd_;
  std::unique_ptr<io_uring> ring_;
  std::uint64_t features_ = 0;
};

// One queue of /dev/ublkcN, on the io thread: the kernel side a UblkQueue
// talks to.  Completions go to `on_completion` (tag, result), in batches;
// the commands they cause go out together after each batch.
class UblkQueueRing final : public UblkQueueKernel {
 public:
  using Handler = std::function<void(std::uint16_t tag, std::int32_t result)>;
  static std::unique_ptr<UblkQueueRing> open(boost::asio::io_context& io, std::uint32_t id, unsigned depth,
                                             bool ioctl_encode, Handler on_completion, std::error_code& ec);
  ~UblkQueueRing() override;

  const ublk::IoDesc& descriptor(std::uint16_t tag) const override { return descriptors_[tag]; }
  void fetch(std::uint16_t tag, std::byte* buffer) override;
  void commit_and_fetch(std::uint16_t tag, std::int32_t result, std::byte* buffer) override;

 private:
  UblkQueueRing(boost::asio::io_context& io, int fd, const ublk::IoDesc* descriptors, std::size_t map_bytes,
                std::unique_ptr<io_uring> ring, int eventfd, bool ioctl_encode, Handler on_completion);
  void queue(unsigned nr, std::uint16_t tag, std::int32_t result, std::byte* buffer);
  void submit_soon();
  void wait();
  void reap();

  boost::asio::io_context& io_;
  int fd_;
  const ublk::IoDesc* descriptors_;
  std::size_t map_bytes_;
  std::unique_ptr<io_uring> ring_;
  boost::asio::posix::stream_descriptor event_;
  bool ioctl_encode_;
  Handler on_completion_;
  bool submit_posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace aoe::daemon

template <>
struct std::is_error_code_enum<aoe::daemon::ublk_errc> : std::true_type {};
