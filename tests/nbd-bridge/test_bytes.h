// test_bytes.h: big-endian byte helpers for the NBD tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aoe::test {

using Bytes = std::vector<std::byte>;

inline void be(Bytes& out, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::byte>(v >> (8 * (width - 1 - i))));
}

inline std::uint64_t read_be(const Bytes& in, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(in.at(at + i));
  return v;
}

}  // namespace aoe::test
