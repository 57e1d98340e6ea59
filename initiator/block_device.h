// block_device.h: what the NBD bridge serves, and what the engine offers.
//
// Offsets and lengths are multiples of 512; the NBD bridge's block adapter
// handles any other alignment on top.  Completions run on the io_context
// thread that owns the device, exactly once, with the error (if any).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <system_error>

namespace aoe {

class BlockDevice {
 public:
  using Completion = std::function<void(std::error_code)>;

  virtual ~BlockDevice() = default;

  virtual std::uint64_t size_bytes() const noexcept = 0;

  // True when async_flush makes completed writes durable on the target.
  virtual bool can_flush() const noexcept = 0;

  // Largest single read or write accepted (the engine: 32 MiB).
  virtual std::size_t max_request_bytes() const noexcept = 0;

  // `data` must stay valid until the completion runs.  A write completes
  // only when the target acknowledged every frame of it.
  virtual void async_read(std::uint64_t offset, std::span<std::byte> data, Completion done) = 0;
  virtual void async_write(std::uint64_t offset, std::span<const std::byte> data, Completion done) = 0;
  // Durable on the target: every write completed before this call.
  virtual void async_flush(Completion done) = 0;
};

}  // namespace aoe
