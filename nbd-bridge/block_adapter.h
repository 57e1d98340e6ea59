// block_adapter.h: NBD semantics over a sector-aligned aoe::BlockDevice.
//
// Byte-granular reads and writes (unaligned edges by read-modify-write of the
// edge sectors), WRITE_ZEROES as writes of a shared zero buffer, FUA as write
// then flush, requests split at device.max_request_bytes().  Overlapping
// requests are serialised in arrival order (RangeLock), across every
// connection that shares this adapter.  One adapter per device; all calls on
// the io_context thread that owns the device.
//
// The common request (an aligned READ or WRITE of at most one device
// request, on a range nobody holds) also has a path without coroutines
// (start_aligned): the session's fast path, which allocates nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>  // before asio/awaitable.hpp, which needs std::exchange
#include <system_error>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "initiator/block_device.h"
#include "nbd-bridge/range_lock.h"

namespace aoe::nbd {

class BlockAdapter {
 public:
  explicit BlockAdapter(BlockDevice& device);
  BlockAdapter(const BlockAdapter&) = delete;
  BlockAdapter& operator=(const BlockAdapter&) = delete;

  std::uint64_t size_bytes() const noexcept { return device_.size_bytes(); }
  bool can_flush() const noexcept { return device_.can_flush(); }

  // Ranges must lie inside the device (the session validated them).
  boost::asio::awaitable<std::error_code> read(std::uint64_t offset, std::span<std::byte> out);
  boost::asio::awaitable<std::error_code> write(std::uint64_t offset, std::span<const std::byte> data,
                                                bool fua);
  boost::asio::awaitable<std::error_code> write_zeroes(std::uint64_t offset, std::uint64_t length,
                                                       bool fua);
  // Durable: every write completed (replied to) before this call.
  boost::asio::awaitable<std::error_code> flush();

  // Starts an aligned READ or WRITE at once (offset and size multiples of
  // 512, size at most max_request_bytes) if its range is free: `guard`
  // then holds the range until the caller drops it, after the device called
  // `done` (on the io thread).  False, and nothing started: not aligned, too
  // large, or the range is held or waited for; read() or write() then.
  bool start_aligned(bool write, std::uint64_t offset, std::span<std::byte> data,
                     std::optional<RangeLock::Guard>& guard, BlockDevice::Completion done);

 private:
  // `data` null ⇒ zeroes; `data` points at the byte for `offset`.
  boost::asio::awaitable<std::error_code> write_range(std::uint64_t offset, std::uint64_t length,
                                                      const std::byte* data);
  // Read-modify-write of the sector at `sector` for bytes [from, to).
  boost::asio::awaitable<std::error_code> patch_sector(std::uint64_t sector, std::uint64_t from,
                                                       std::uint64_t to, const std::byte* data);
  // Reads bytes [from, to) of the sector at `sector` into `out`.
  boost::asio::awaitable<std::error_code> read_partial(std::uint64_t sector, std::uint64_t from,
                                                       std::uint64_t to, std::byte* out);
  boost::asio::awaitable<std::error_code> read_aligned(std::uint64_t offset, std::span<std::byte> out);
  boost::asio::awaitable<std::error_code> write_aligned(std::uint64_t offset, std::uint64_t length,
                                                        const std::byte* data);

  BlockDevice& device_;
  std::uint64_t chunk_;            // largest device request, a multiple of 512
  std::vector<std::byte> zeroes_;  // source of WRITE_ZEROES, allocated on first use
  RangeLock lock_;
};

}  // namespace aoe::nbd
