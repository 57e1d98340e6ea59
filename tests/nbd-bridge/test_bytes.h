// test_bytes.h: byte helpers for the NBD tests: big-endian fields, data
// patterns, and a buffer pool's upstream allocator that always fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aoe::test {

using Bytes = std::vector<std::byte>;

inline constexpr std::uint32_t MiB = 1u << 20;

inline void be(Bytes& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::byte>(v >> (8 * (width - 1 - i))));
}

inline std::uint64_t read_be(const Bytes& in, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(in.at(at + i));
  return v;
}

// A data block whose bytes differ by position and by seed, so a shifted or
// another write's copy shows.
inline Bytes pattern(std::size_t n, unsigned seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 131 + seed * 17 + (i >> 8)) & 0xff);
  return b;
}

// For BufferPool::set_upstream: the system is out of memory.
inline std::byte* no_memory(std::size_t) { return nullptr; }

}  // namespace aoe::test
