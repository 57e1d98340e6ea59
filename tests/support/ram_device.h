// ram_device.h: a BlockDevice in RAM for tests that need a real disk behind
// the NBD bridge but no AoE target (the kernel attach test in the VM).
// Completions are posted, never run inside the call, as the engine does.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "initiator/block_device.h"
#include "initiator/errors.h"

namespace aoe::test {

class RamDevice final : public BlockDevice {
 public:
  RamDevice(boost::asio::io_context& io, std::uint64_t size_bytes) : io_(io), data_(size_bytes) {}

  std::uint64_t size_bytes() const noexcept override { return data_.size(); }
  bool can_flush() const noexcept override { return true; }
  std::size_t max_request_bytes() const noexcept override { return 32u << 20; }

  void async_read(std::uint64_t offset, std::span<std::byte> out, Completion done) override {
    const auto ec = check(offset, out.size());
    if (!ec) std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    complete(std::move(done), ec);
  }

  void async_write(std::uint64_t offset, std::span<const std::byte> in, Completion done) override {
    const auto ec = check(offset, in.size());
    if (!ec) std::copy(in.begin(), in.end(), data_.begin() + static_cast<std::ptrdiff_t>(offset));
    complete(std::move(done), ec);
  }

  void async_flush(Completion done) override { complete(std::move(done), {}); }

 private:
  std::error_code check(std::uint64_t offset, std::size_t length) const noexcept {
    if (offset % 512 != 0 || length % 512 != 0) return errc::not_aligned;
    if (length > max_request_bytes()) return errc::request_too_large;
    if (offset > data_.size() || length > data_.size() - offset) return errc::out_of_range;
    return {};
  }

  void complete(Completion done, std::error_code ec) {
    boost::asio::post(io_, [done = std::move(done), ec] { done(ec); });
  }

  boost::asio::io_context& io_;
  std::vector<std::byte> data_;
};

}  // namespace aoe::test
