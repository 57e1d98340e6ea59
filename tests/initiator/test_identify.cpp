// IDENTIFY DEVICE parsing (docs/aoe-protocol.md §3.6) over blocks built word by word.
#include "initiator/identify.h"

#include "initiator/errors.h"

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace aoe;

namespace {

// 256 words, serialised little-endian as a drive sends them.
struct IdentifyBlock {
  std::array<std::uint16_t, 256> words{};

  // ATA strings: first character in the high byte, space padded.
  void text(std::size_t first_word, std::size_t n_words, std::string_view s) {
    for (std::size_t i = 0; i < n_words; ++i) {
      const auto at = [&](std::size_t k) -> unsigned { return k < s.size() ? static_cast<unsigned char>(s[k]) : ' '; };
      words[first_word + i] = static_cast<std::uint16_t>(at(2 * i) << 8 | at(2 * i + 1));
    }
  }
  void u32(std::size_t w, std::uint32_t v) {
    words[w] = static_cast<std::uint16_t>(v);
    words[w + 1] = static_cast<std::uint16_t>(v >> 16);
  }
  void u64(std::size_t w, std::uint64_t v) {
    for (std::size_t i = 0; i < 4; ++i) words[w + i] = static_cast<std::uint16_t>(v >> (16 * i));
  }
  std::array<std::byte, 512> bytes() const {
    std::array<std::byte, 512> b{};
    for (std::size_t i = 0; i < words.size(); ++i) {
      b[2 * i] = std::byte(static_cast<unsigned char>(words[i] & 0xFF));
      b[2 * i + 1] = std::byte(static_cast<unsigned char>(words[i] >> 8));
    }
    return b;
  }
};

// What vblade answers: LBA48 with FLUSH CACHE (EXT) advertised, 28-bit capacity saturated.
IdentifyBlock vblade_like(std::uint64_t sectors) {
  IdentifyBlock id;
  id.words[0] = 0x0040;
  id.text(10, 10, "vb-0123456789");
  id.text(23, 4, "V25");
  id.text(27, 20, "Coraid EtherDrive vblade");
  id.words[49] = 0x0200;  // LBA
  id.u32(60, 0x0FFFFFFF);
  id.words[82] = 0x4000;
  id.words[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400;
  id.words[85] = 0x4000;
  id.words[86] = 0x2000 | 0x1000 | 0x0400;
  id.u64(100, sectors);
  return id;
}

Identity parse(const IdentifyBlock& block) {
  const auto bytes = block.bytes();
  Identity id;
  REQUIRE(parse_identify(bytes, id) == std::error_code{});
  return id;
}

}  // namespace

TEST_CASE("test-identify-vblade-lba48", "[identify]") {
  // 3 TiB: far past the 28-bit limit, so only words 100-103 can say it.
  const std::uint64_t sectors = 3ull << 31;
  const Identity id = parse(vblade_like(sectors));
  CHECK(id.lba48);
  CHECK(id.sectors == sectors);
  CHECK(id.size_bytes() == 3ull << 40);
  CHECK(id.model == "Coraid EtherDrive vblade");
  CHECK(id.serial == "vb-0123456789");
  CHECK(id.firmware == "V25");
  CHECK(id.flush_supported);
  CHECK(id.flush_ext_supported);
  CHECK_FALSE(id.write_cache_supported);
  CHECK_FALSE(id.write_cache_enabled);
}

TEST_CASE("test-identify-lba28-only", "[identify]") {
  IdentifyBlock block = vblade_like(0xDEADBEEF);  // words 100-103 must be ignored
  block.words[83] = 0x4000 | 0x1000;              // valid, no LBA48, FLUSH CACHE only
  block.words[86] = 0x1000;
  block.u32(60, 0x00123456);
  const Identity id = parse(block);
  CHECK_FALSE(id.lba48);
  CHECK(id.sectors == 0x00123456);
  CHECK(id.flush_supported);
  CHECK_FALSE(id.flush_ext_supported);
}

TEST_CASE("test-identify-lba48-enabled-only", "[identify]") {
  // Linux's rule ORs word 86 in: "enabled" alone is enough (docs/aoe-protocol.md §3.6).
  IdentifyBlock block = vblade_like(1ull << 32);
  block.words[83] = 0x4000;
  block.words[86] = 0x0400;
  const Identity id = parse(block);
  CHECK(id.lba48);
  CHECK(id.sectors == 1ull << 32);
}

TEST_CASE("test-identify-string-swap", "[identify]") {
  IdentifyBlock block = vblade_like(1000);
  block.text(27, 20, "Coraid");
  const auto bytes = block.bytes();
  // On the wire each pair is reversed: the model field reads "oCardi" (docs/aoe-protocol.md §3.6).
  const std::string raw(reinterpret_cast<const char*>(bytes.data()) + 54, 6);
  CHECK(raw == "oCardi");

  Identity id;
  REQUIRE(parse_identify(bytes, id) == std::error_code{});
  CHECK(id.model == "Coraid");

  SECTION("odd lengths keep their last character") {
    block.text(10, 10, "ABC");
    CHECK(parse(block).serial == "ABC");
  }
  SECTION("trailing NULs are trimmed like spaces, inner spaces stay") {
    block.words.fill(0);
    block.text(27, 3, "ab cd");
    CHECK(parse(block).model == "ab cd");
    CHECK(parse(block).firmware.empty());
  }
  SECTION("right-justified strings lose their leading padding") {
    block.text(10, 10, "       SN42");
    CHECK(parse(block).serial == "SN42");
  }
  SECTION("a full field is not truncated") {
    block.text(27, 20, "0123456789012345678901234567890123456789");
    CHECK(parse(block).model.size() == 40);
  }
}

TEST_CASE("test-identify-invalid-word83", "[identify]") {
  // Bits 15..14 other than 01 mean words 82-84 say nothing (docs/aoe-protocol.md §3.6).
  const std::uint16_t w83 = GENERATE(as<std::uint16_t>{}, 0x0000, 0xFFFF, 0x3400, 0x8000 | 0x3400);
  IdentifyBlock block = vblade_like(1ull << 33);
  block.words[83] = w83;
  block.words[82] = 0xFFFF;
  block.words[85] = 0xFFFF;
  block.u32(60, 0x0FFFFFFF);
  const Identity id = parse(block);
  CHECK_FALSE(id.lba48);
  CHECK(id.sectors == 0x0FFFFFFF);
  CHECK_FALSE(id.flush_supported);
  CHECK_FALSE(id.flush_ext_supported);
  CHECK_FALSE(id.write_cache_supported);
  CHECK_FALSE(id.write_cache_enabled);
}

TEST_CASE("test-identify-write-cache", "[identify]") {
  IdentifyBlock block = vblade_like(1000);
  block.words[82] |= 0x0020;
  CHECK(parse(block).write_cache_supported);
  CHECK_FALSE(parse(block).write_cache_enabled);
  block.words[85] |= 0x0020;
  CHECK(parse(block).write_cache_enabled);
}

TEST_CASE("test-identify-physical-sector", "[identify]") {
  IdentifyBlock block = vblade_like(1000);
  CHECK(parse(block).physical_sector_shift == 9);  // vblade leaves word 106 at 0
  block.words[106] = 0x4000 | 0x2000 | 3;          // 8 logical sectors per physical: 4 KiB
  CHECK(parse(block).physical_sector_shift == 12);
  block.words[106] = 0x4000 | 0x2000 | 1;
  CHECK(parse(block).physical_sector_shift == 10);
  block.words[106] = 0x4000 | 0x2000 | 6;          // 32 KiB: clamped to a page
  CHECK(parse(block).physical_sector_shift == 12);
  block.words[106] = 0x4000 | 3;                   // bit 13 clear: one per physical
  CHECK(parse(block).physical_sector_shift == 9);
  block.words[106] = 0xFFFF;                       // bits 15..14 not 01: says nothing
  CHECK(parse(block).physical_sector_shift == 9);
}

TEST_CASE("test-identify-not-ata", "[identify]") {
  IdentifyBlock block = vblade_like(1000);
  Identity id;
  SECTION("word 0 bit 15 set: ATAPI") {
    block.words[0] = 0x8580;
    const auto bytes = block.bytes();
    CHECK(parse_identify(bytes, id) == errc::bad_identify);
  }
  SECTION("shorter than 512 bytes") {
    const auto bytes = block.bytes();
    CHECK(parse_identify(std::span(bytes).first(511), id) == errc::bad_identify);
    CHECK(parse_identify({}, id) == errc::bad_identify);
  }
  SECTION("longer is fine: a read response may carry padding") {
    std::array<std::byte, 600> longer{};
    const auto bytes = block.bytes();
    std::copy(bytes.begin(), bytes.end(), longer.begin());
    CHECK(parse_identify(longer, id) == std::error_code{});
    CHECK(id.sectors == 1000);
  }
}

TEST_CASE("test-identify-impossible-capacity-clamped-to-the-addressing-mode", "[identify]") {
  SECTION("LBA28 words 60-61 beyond 0FFFFFFFh") {
    IdentifyBlock block = vblade_like(1000);
    block.words[83] = 0x4000;  // valid, no LBA48
    block.words[86] = 0;
    block.u32(60, 0xFFFFFFFF);
    const Identity id = parse(block);
    CHECK_FALSE(id.lba48);
    CHECK(id.sectors == 0x0FFFFFFF);  // LBA 0FFFFFFEh is the last: 28 bits, no wrap onto sector 0
    CHECK(id.claimed_sectors == 0xFFFFFFFF);
  }
  SECTION("LBA48 words 100-103 beyond 48 bits") {
    const Identity id = parse(vblade_like(0xFFFF'0000'0000'1234));
    CHECK(id.lba48);
    CHECK(id.sectors == 0xFFFF'FFFF'FFFF);
    CHECK(id.claimed_sectors == 0xFFFF'0000'0000'1234);
    CHECK(id.size_bytes() / 512 == id.sectors);  // the byte count does not overflow
  }
  SECTION("within reach: nothing claimed") {
    CHECK(parse(vblade_like(0xFFFF'FFFF'FFFF)).claimed_sectors == 0);
    IdentifyBlock block = vblade_like(1000);
    block.words[83] = 0x4000;
    block.words[86] = 0;
    block.u32(60, 0x0FFFFFFF);
    CHECK(parse(block).claimed_sectors == 0);
  }
}
