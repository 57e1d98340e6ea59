// ublk_queue.h: one ublk queue's requests, between the kernel's ublk driver
// and the engine (docs/architecture.md, "ublk serving").  Each tag has one
// command outstanding in the kernel: FETCH_REQ at start, then
// COMMIT_AND_FETCH_REQ carrying the previous request's result.  The CQE of
// that command says "a request waits in the tag's descriptor": the queue
// reads the descriptor, runs the request on the engine with the tag's own
// buffer (the kernel copied the write data into it, or copies the read
// data out of it at the commit), and commits the result with the next fetch.
//
// The kernel side is an interface: ublk_device.h puts /dev/ublkcN's
// io_uring behind it, unit tests a fake.  Everything runs on the io thread
// that owns the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "daemon/ublk_abi.h"
#include "initiator/block_device.h"

namespace aoe::daemon {

// The kernel's side of one queue.  Commands are queued and reach the
// kernel together once the io thread's current handler returns: one system
// call for a batch of CQEs or of engine completions.
class UblkQueueKernel {
 public:
  virtual ~UblkQueueKernel() = default;
  virtual const ublk::IoDesc& descriptor(std::uint16_t tag) const = 0;
  virtual void fetch(std::uint16_t tag, std::byte* buffer) = 0;
  virtual void commit_and_fetch(std::uint16_t tag, std::int32_t result, std::byte* buffer) = 0;
};

struct UblkQueueSettings {
  unsigned depth = 64;
  // Largest request (the device's max_sectors): each tag's buffer.
  std::size_t buffer_bytes = 512u << 10;
};

class UblkQueue {
 public:
  UblkQueue(BlockDevice& device, UblkQueueSettings settings);
  UblkQueue(const UblkQueue&) = delete;
  UblkQueue& operator=(const UblkQueue&) = delete;

  // Fetches every tag through `kernel` (a new device, or one a predecessor
  // left: with recovery the kernel reissues what it held to us).
  void start(UblkQueueKernel& kernel);
  // The CQE of `tag`'s command.
  void on_completion(std::uint16_t tag, std::int32_t result);
  // No more commands to the kernel side (it is closing, or gone): requests
  // still in the engine finish there, and their results are dropped (the
  // kernel requeues or fails them itself).
  void detach();

  // Asked before each write: while it says so, writes fail with EPERM (the
  // claim was lost); reads and flushes run.
  void set_write_guard(std::function<bool()> refuse) { refuse_writes_ = std::move(refuse); }
  // Called when every tag's command came back with ABORT: the device is
  // being stopped, by us or from outside.
  void set_abort_listener(std::function<void()> listener) { abort_listener_ = std::move(listener); }

  std::size_t in_engine() const noexcept { return in_engine_; }
  bool aborted() const noexcept { return aborted_ == tags_.size(); }
  std::byte* buffer(std::uint16_t tag) noexcept { return buffers_.get() + tag * settings_.buffer_bytes; }

 private:
  enum class TagState : std::uint8_t { idle, waiting, in_engine, aborted };
  void run(std::uint16_t tag, const ublk::IoDesc& desc);
  void finish(std::uint16_t tag, std::int32_t result);

  BlockDevice& device_;
  const UblkQueueSettings settings_;
  std::unique_ptr<std::byte[]> buffers_;
  std::vector<TagState> tags_;
  UblkQueueKernel* kernel_ = nullptr;
  std::size_t in_engine_ = 0;
  std::size_t aborted_ = 0;
  std::function<bool()> refuse_writes_;
  std::function<void()> abort_listener_;
};

// What `result` (an engine error) becomes for the kernel: -errno.
std::int32_t ublk_result(std::error_code ec, std::uint32_t bytes) noexcept;

}  // namespace aoe::daemon
