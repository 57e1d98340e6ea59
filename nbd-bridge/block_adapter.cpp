#include "nbd-bridge/block_adapter.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace aoe::nbd {

namespace asio = boost::asio;

namespace {

constexpr std::uint64_t sector = 512;
constexpr std::uint64_t max_zero_buffer = 1u << 20;

constexpr std::uint64_t down(std::uint64_t v) { return v / sector * sector; }
constexpr std::uint64_t up(std::uint64_t v) { return down(v + sector - 1); }

// Awaits one BlockDevice operation.  The completion is posted, so the
// coroutine never resumes inside the device's own call stack.
template <typename Start>
asio::awaitable<std::error_code> device_op(Start start) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::error_code)>(
      [&start, ex](auto handler) {
        // BlockDevice::Completion is a std::function (copyable); the handler is not.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start([shared, ex](std::error_code ec) { asio::post(ex, [shared, ec] { (*shared)(ec); }); });
      },
      asio::use_awaitable);
}

}  // namespace

BlockAdapter::BlockAdapter(BlockDevice& device)
    : device_(device), chunk_(std::max<std::uint64_t>(sector, down(device.max_request_bytes()))) {}

asio::awaitable<std::error_code> BlockAdapter::read(std::uint64_t offset, std::span<std::byte> out) {
  if (out.empty()) co_return std::error_code{};
  const std::uint64_t end = offset + out.size();
  auto guard = co_await lock_.acquire(down(offset), up(end), false);
  std::error_code ec;
  if (offset % sector) ec = co_await read_partial(down(offset), offset, std::min(end, up(offset)), out.data());
  const std::uint64_t mid = up(offset);
  if (!ec && mid < down(end))
    ec = co_await read_aligned(mid, out.subspan(mid - offset, down(end) - mid));
  if (!ec && end % sector && down(end) >= mid) {
    const std::uint64_t from = std::max(offset, down(end));
    ec = co_await read_partial(down(end), from, end, out.data() + (from - offset));
  }
  co_return ec;
}

asio::awaitable<std::error_code> BlockAdapter::write(std::uint64_t offset,
                                                     std::span<const std::byte> data, bool fua) {
  if (data.empty()) co_return std::error_code{};
  {
    auto guard = co_await lock_.acquire(down(offset), up(offset + data.size()), true);
    auto ec = co_await write_range(offset, data.size(), data.data());
    if (ec || !fua) co_return ec;
  }
  co_return co_await flush();
}

asio::awaitable<std::error_code> BlockAdapter::write_zeroes(std::uint64_t offset, std::uint64_t length,
                                                            bool fua) {
  if (length == 0) co_return std::error_code{};
  {
    auto guard = co_await lock_.acquire(down(offset), up(offset + length), true);
    auto ec = co_await write_range(offset, length, nullptr);
    if (ec || !fua) co_return ec;
  }
  co_return co_await flush();
}

asio::awaitable<std::error_code> BlockAdapter::flush() {
  // Without a cache to flush, an acknowledged write is already durable.
  if (!device_.can_flush()) co_return std::error_code{};
  co_return co_await device_op([this](BlockDevice::Completion done) { device_.async_flush(std::move(done)); });
}

bool BlockAdapter::start_aligned(bool write, std::uint64_t offset, std::span<std::byte> data,
                                 std::optional<RangeLock::Guard>& guard, BlockDevice::Completion done) {
  if (offset % sector || data.size() % sector || data.empty() || data.size() > chunk_) return false;
  if (!lock_.try_acquire(offset, offset + data.size(), write, guard)) return false;
  if (write)
    device_.async_write(offset, data, std::move(done));
  else
    device_.async_read(offset, data, std::move(done));
  return true;
}

asio::awaitable<std::error_code> BlockAdapter::write_range(std::uint64_t offset, std::uint64_t length,
                                                           const std::byte* data) {
  const std::uint64_t end = offset + length;
  const std::uint64_t mid = up(offset);
  auto at = [&](std::uint64_t pos) { return data ? data + (pos - offset) : nullptr; };
  std::error_code ec;
  if (offset % sector) ec = co_await patch_sector(down(offset), offset, std::min(end, mid), data);
  if (!ec && mid < down(end)) ec = co_await write_aligned(mid, down(end) - mid, at(mid));
  if (!ec && end % sector && down(end) >= mid) {
    const std::uint64_t from = std::max(offset, down(end));
    ec = co_await patch_sector(down(end), from, end, at(from));
  }
  co_return ec;
}

asio::awaitable<std::error_code> BlockAdapter::patch_sector(std::uint64_t at, std::uint64_t from,
                                                            std::uint64_t to, const std::byte* data) {
  std::array<std::byte, sector> buf;
  auto ec = co_await read_aligned(at, buf);
  if (ec) co_return ec;
  if (data)
    std::memcpy(buf.data() + (from - at), data, to - from);
  else
    std::memset(buf.data() + (from - at), 0, to - from);
  co_return co_await device_op([&](BlockDevice::Completion done) {
    device_.async_write(at, buf, std::move(done));
  });
}

asio::awaitable<std::error_code> BlockAdapter::read_partial(std::uint64_t at, std::uint64_t from,
                                                            std::uint64_t to, std::byte* out) {
  std::array<std::byte, sector> buf;
  auto ec = co_await read_aligned(at, buf);
  if (!ec) std::memcpy(out, buf.data() + (from - at), to - from);
  co_return ec;
}

asio::awaitable<std::error_code> BlockAdapter::read_aligned(std::uint64_t offset, std::span<std::byte> out) {
  for (std::size_t done = 0; done < out.size();) {
    const auto piece = out.subspan(done, std::min<std::uint64_t>(chunk_, out.size() - done));
    auto ec = co_await device_op([&](BlockDevice::Completion cb) {
      device_.async_read(offset + done, piece, std::move(cb));
    });
    if (ec) co_return ec;
    done += piece.size();
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> BlockAdapter::write_aligned(std::uint64_t offset, std::uint64_t length,
                                                             const std::byte* data) {
  if (!data && zeroes_.empty()) zeroes_.resize(std::min(chunk_, max_zero_buffer));
  const std::uint64_t limit = data ? chunk_ : zeroes_.size();
  for (std::uint64_t done = 0; done < length;) {
    const std::uint64_t n = std::min(limit, length - done);
    std::span<const std::byte> piece = data ? std::span<const std::byte>(data + done, n)
                                            : std::span<const std::byte>(zeroes_.data(), n);
    auto ec = co_await device_op([&](BlockDevice::Completion cb) {
      device_.async_write(offset + done, piece, std::move(cb));
    });
    if (ec) co_return ec;
    done += n;
  }
  co_return std::error_code{};
}

}  // namespace aoe::nbd
