// The aBFT parser on tables built here byte by byte, as iPXE's
// `sanboot aoe:eS.L` publishes them, and on every way one can be wrong.
#include "discovery/abft.h"

#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

using namespace aoe;
using namespace aoe::discovery;

namespace {

// A 46-byte aBFT (plus `pad` zero bytes inside its declared length) whose
// checksum byte makes the table sum to zero.
std::vector<std::byte> table(std::uint16_t shelf, std::uint8_t slot, wire::Mac mac, std::size_t pad = 0) {
  std::vector<std::byte> t(abft_size + pad, std::byte{0});
  auto put = [&](std::size_t at, unsigned value) { t[at] = static_cast<std::byte>(value & 0xff); };
  std::memcpy(t.data(), "aBFT", 4);
  const auto length = static_cast<unsigned>(t.size());
  for (unsigned i = 0; i < 4; ++i) put(4 + i, length >> (8 * i));
  put(8, 1);                              // revision
  std::memcpy(t.data() + 10, "FENSYS", 6);  // OEM id
  put(36, shelf);
  put(37, shelf >> 8);
  put(38, slot);
  std::memcpy(t.data() + 40, mac.data(), mac.size());
  unsigned sum = 0;
  for (auto b : t) sum += std::to_integer<unsigned>(b);
  put(9, 256 - sum % 256);
  return t;
}

constexpr wire::Mac mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

}  // namespace

TEST_CASE("test-abft-parses-the-booted-target") {
  auto parsed = parse_abft(table(0x0102, 7, mac));
  REQUIRE(parsed.target);
  CHECK(parsed.error.empty());
  CHECK(parsed.target->shelf == 0x0102);  // little-endian
  CHECK(parsed.target->slot == 7);
  CHECK(parsed.target->initiator_mac == mac);
  // Padding inside the declared length, and bytes read beyond it, are fine.
  auto padded = table(1, 2, mac, 10);
  padded.resize(padded.size() + 3, std::byte{0x55});
  parsed = parse_abft(padded);
  REQUIRE(parsed.target);
  CHECK(parsed.target->shelf == 1);
  CHECK(parsed.target->slot == 2);
}

TEST_CASE("test-abft-refuses-what-is-no-abft") {
  auto error_of = [](std::vector<std::byte> t) {
    auto parsed = parse_abft(t);
    CHECK_FALSE(parsed.target);
    return parsed.error;
  };
  const auto good = table(1, 2, mac);
  CHECK_THAT(error_of({}), Catch::Contains("shorter than an ACPI table header"));
  CHECK_THAT(error_of({good.begin(), good.begin() + 30}), Catch::Contains("shorter"));
  auto other = good;
  std::memcpy(other.data(), "iBFT", 4);
  CHECK_THAT(error_of(other), Catch::Contains("signature"));
  auto cut = good;
  cut.resize(45);
  CHECK_THAT(error_of(cut), Catch::Contains("declares 46 bytes, only 45 were read"));
  auto small = good;
  small[4] = std::byte{40};
  CHECK_THAT(error_of(small), Catch::Contains("fewer than an aBFT's 46"));
  auto corrupt = good;
  corrupt[41] ^= std::byte{1};  // a MAC bit
  CHECK_THAT(error_of(corrupt), Catch::Contains("checksum"));
  CHECK_THAT(error_of(table(0xffff, 1, mac)), Catch::Contains("broadcast address e65535.1"));
  CHECK_THAT(error_of(table(1, 0xff, mac)), Catch::Contains("broadcast"));
}
