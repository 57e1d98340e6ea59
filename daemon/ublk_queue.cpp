#include "daemon/ublk_queue.h"

#include <cerrno>
#include <span>

#include "initiator/errors.h"
#include "base/log.h"

namespace aoe::daemon {

std::int32_t ublk_result(std::error_code ec, std::uint32_t bytes) noexcept {
  if (!ec) return static_cast<std::int32_t>(bytes);
  const int e = to_errno(ec);
  return -(e > 0 ? e : EIO);
}

UblkQueue::UblkQueue(BlockDevice& device, UblkQueueSettings settings)
    : device_(device), settings_(settings),
      buffers_(new std::byte[settings.depth * settings.buffer_bytes]), tags_(settings.depth, TagState::idle) {}

void UblkQueue::start(UblkQueueKernel& kernel) {
  kernel_ = &kernel;
  aborted_ = 0;
  for (std::uint16_t tag = 0; tag < tags_.size(); ++tag) {
    if (tags_[tag] == TagState::in_engine) continue;  // fetched when its request finishes
    tags_[tag] = TagState::waiting;
    kernel.fetch(tag, buffer(tag));
  }
}

void UblkQueue::detach() { kernel_ = nullptr; }

void UblkQueue::on_completion(std::uint16_t tag, std::int32_t result) {
  if (tag >= tags_.size() || !kernel_) return;
  if (tags_[tag] != TagState::waiting) {
    log::warning("ublk: a completion for tag {}, which had no command outstanding (result {})", tag, result);
    return;
  }
  if (result == ublk::io_res_ok) return run(tag, kernel_->descriptor(tag));
  // ABORT: the device is stopping and takes no command for this tag again.
  // Anything else is a command the kernel refused, which leaves the tag
  // unusable all the same.
  if (result != ublk::io_res_abort) log::error("ublk: the kernel refused the command of tag {}: {}", tag, result);
  tags_[tag] = TagState::aborted;
  if (++aborted_ == tags_.size() && abort_listener_) abort_listener_();
}

void UblkQueue::run(std::uint16_t tag, const ublk::IoDesc& desc) {
  tags_[tag] = TagState::in_engine;
  ++in_engine_;
  const std::uint8_t op = desc.op_flags & 0xff;
  const std::uint64_t offset = desc.start_sector * 512;
  const std::uint64_t length = std::uint64_t{desc.nr_sectors} * 512;
  auto done = [this, tag, length](std::error_code ec) {
    finish(tag, ublk_result(ec, static_cast<std::uint32_t>(length)));
  };
  if ((op == ublk::op_read || op == ublk::op_write) && length > settings_.buffer_bytes)
    return finish(tag, -EINVAL);  // past max_sectors: the kernel never sends it
  std::span<std::byte> data(buffer(tag), length);
  switch (op) {
    case ublk::op_read:
      return device_.async_read(offset, data, std::move(done));
    case ublk::op_write:
      if (refuse_writes_ && refuse_writes_()) return finish(tag, -EPERM);
      if (!(desc.op_flags & ublk::io_f_fua) || !device_.can_flush())
        return device_.async_write(offset, data, std::move(done));
      // FUA: durable before it completes (write, then flush, as the NBD bridge does it).
      return device_.async_write(offset, data, [this, done = std::move(done)](std::error_code ec) mutable {
        if (ec) return done(ec);
        device_.async_flush(std::move(done));
      });
    case ublk::op_flush:
      if (!device_.can_flush()) return finish(tag, 0);  // no volatile cache was advertised
      return device_.async_flush([this, tag](std::error_code ec) { finish(tag, ublk_result(ec, 0)); });
    default:  // discard, write-zeroes: never advertised
      return finish(tag, -EOPNOTSUPP);
  }
}

void UblkQueue::finish(std::uint16_t tag, std::int32_t result) {
  --in_engine_;
  if (!kernel_) {  // detached: the kernel requeues or fails it itself
    tags_[tag] = TagState::idle;
    return;
  }
  tags_[tag] = TagState::waiting;
  kernel_->commit_and_fetch(tag, result, buffer(tag));
}

}  // namespace aoe::daemon
