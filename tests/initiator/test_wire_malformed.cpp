// Decoding hostile or broken frames: every class of defect maps to its errc.
#include "initiator/wire.h"

#include "initiator/errors.h"
#include "tests/initiator/test_wire_support.h"

using namespace aoe;
using namespace aoe::test;

namespace {

const std::string eth = "020000000001 001122334455 88a2 ";

// A valid frame of each command; tests break one field at a time.
Buffer ata_frame() { return hex(eth + "18 00 0001 02 00 80000001 | 40 00 00 40 000000000000 0000 |" + zeros(24)); }
Buffer config_frame() { return hex(eth + "18 00 0001 02 01 80000001 | 0010 4019 02 10 0000 |" + zeros(28)); }
Buffer mask_frame() { return hex(eth + "18 00 0001 02 02 80000001 | 00 00 00 00 |" + zeros(32)); }
Buffer reserve_frame() { return hex(eth + "18 00 0001 02 03 80000001 | 00 00 |" + zeros(34)); }

std::error_code decode(wire::Bytes frame) {
  wire::Frame out;
  return wire::decode(frame, out);
}

std::error_code decode_header(wire::Bytes frame) {
  wire::Header out;
  return wire::decode_header(frame, out);
}

void set(Buffer& frame, std::size_t at, unsigned value) { frame.at(at) = std::byte(static_cast<unsigned char>(value)); }

}  // namespace

TEST_CASE("test-wire-malformed-too-short", "[wire][malformed]") {
  const struct {
    Buffer frame;
    std::size_t need;
  } cases[] = {{ata_frame(), wire::ata_header_size},
               {config_frame(), wire::config_header_size},
               {mask_frame(), wire::mask_header_size},
               {reserve_frame(), wire::reserve_header_size}};
  for (const auto& c : cases) {
    REQUIRE(decode(c.frame) == std::error_code{});
    // Exactly the fixed part decodes; one byte less is a runt.
    CHECK(decode(wire::Bytes(c.frame).first(c.need)) == std::error_code{});
    for (std::size_t n = 0; n < c.need; ++n) {
      INFO("command " << std::to_integer<int>(c.frame[19]) << ", " << n << " bytes");
      CHECK(decode(wire::Bytes(c.frame).first(n)) == errc::frame_too_short);
      if (n < wire::common_header_size) CHECK(decode_header(wire::Bytes(c.frame).first(n)) == errc::frame_too_short);
    }
  }
}

TEST_CASE("test-wire-malformed-ethertype", "[wire][malformed]") {
  const unsigned type = GENERATE(0x0800u, 0x88A3u, 0xA288u, 0x8100u /* 802.1Q: the socket strips tags */);
  Buffer frame = ata_frame();
  set(frame, 12, type >> 8);
  set(frame, 13, type & 0xFF);
  CHECK(decode(frame) == errc::bad_ethertype);
  CHECK(decode_header(frame) == errc::bad_ethertype);
}

TEST_CASE("test-wire-malformed-version", "[wire][malformed]") {
  // Ver nibble must be 1 (docs/aoe-protocol.md §2.1), whatever the flags.
  const unsigned byte14 = GENERATE(0x00u, 0x08u, 0x28u, 0xF8u, 0x20u);
  Buffer frame = ata_frame();
  set(frame, 14, byte14);
  CHECK(decode(frame) == errc::bad_version);
  CHECK(decode_header(frame) == errc::bad_version);
}

TEST_CASE("test-wire-reserved-bits-not-interpreted", "[wire][malformed]") {
  // Receivers must not interpret reserved bits (docs/aoe-protocol.md §1): the frame decodes,
  // and the R and E flags beside them still read right.
  const unsigned byte14 = GENERATE(0x11u, 0x12u, 0x13u, 0x1Bu, 0x1Fu);
  Buffer frame = config_frame();
  set(frame, 14, byte14);
  wire::Frame f;
  REQUIRE_FALSE(wire::decode(frame, f));
  CHECK(f.header.response == ((byte14 & 0x08) != 0));
  CHECK(f.header.error == ((byte14 & 0x04) != 0));
}

TEST_CASE("test-wire-malformed-subcommand", "[wire][malformed]") {
  // CCmd 5..15, MCmd > 1 and RCmd > 2 are undefined (docs/aoe-protocol.md §4-§6).
  Buffer config = config_frame();
  set(config, 29, 0x15u);  // AoE version 1, CCmd 5
  CHECK(decode(config) == errc::unknown_subcommand);
  Buffer mask = mask_frame();
  set(mask, 25, 2u);
  CHECK(decode(mask) == errc::unknown_subcommand);
  Buffer reserve = reserve_frame();
  set(reserve, 24, 3u);
  CHECK(decode(reserve) == errc::unknown_subcommand);
}

TEST_CASE("test-wire-malformed-command", "[wire][malformed]") {
  // 4..0xEF undefined, 0xF0..0xFF vendor specific (docs/aoe-protocol.md §2.4).
  const unsigned command = GENERATE(4u, 0x10u, 0xEFu, 0xF0u, 0xFFu);
  Buffer frame = reserve_frame();
  set(frame, 19, command);
  CHECK(decode(frame) == errc::unknown_command);
  CHECK(decode_header(frame) == errc::unknown_command);
}

TEST_CASE("test-wire-malformed-config-length", "[wire][malformed][config]") {
  Buffer frame = config_frame();
  SECTION("the 28 bytes present, padding included, may be claimed") {
    set(frame, 31, 28);
    wire::Frame out;
    REQUIRE(wire::decode(frame, out) == std::error_code{});
    CHECK(std::get<wire::ConfigArg>(out.arg).config_string.size() == 28);
  }
  SECTION("one byte beyond the frame") {
    set(frame, 31, 29);
    CHECK(decode(frame) == errc::bad_config_length);
  }
  SECTION("over 1024 even when the bytes are there") {
    frame.resize(wire::config_header_size + 2000);
    set(frame, 30, 1025 >> 8);
    set(frame, 31, 1025 & 0xFF);
    CHECK(decode(frame) == errc::bad_config_length);
    set(frame, 30, 0xFF);
    set(frame, 31, 0xFF);
    CHECK(decode(frame) == errc::bad_config_length);
    set(frame, 30, 1024 >> 8);
    set(frame, 31, 1024 & 0xFF);
    CHECK(decode(frame) == std::error_code{});
  }
}

TEST_CASE("test-wire-malformed-directive-count", "[wire][malformed][mask]") {
  // 60 - 28 = 32 bytes after the mask header: room for 4 directives.
  Buffer frame = mask_frame();
  set(frame, 27, 4);
  CHECK(decode(frame) == std::error_code{});
  set(frame, 27, 5);
  CHECK(decode(frame) == errc::bad_directive_count);
  set(frame, 27, 255);
  CHECK(decode(frame) == errc::bad_directive_count);
}

TEST_CASE("test-wire-malformed-mac-count", "[wire][malformed][reserve]") {
  // 60 - 26 = 34 bytes after the reserve header: room for 5 MACs.
  Buffer frame = reserve_frame();
  set(frame, 25, 5);
  CHECK(decode(frame) == std::error_code{});
  set(frame, 25, 6);
  CHECK(decode(frame) == errc::bad_mac_count);
  set(frame, 25, 255);
  CHECK(decode(frame) == errc::bad_mac_count);
}

TEST_CASE("test-wire-malformed-write-data", "[wire][malformed][ata]") {
  // A write request must carry SectorCount x 512 bytes (docs/aoe-protocol.md §3.4).
  const auto h = request(1, 2, 0x80000001);
  const Buffer data = pattern(1024);
  auto write = wire::ata_write(0, 2, true);
  write.data = data;
  Buffer frame(2048);
  frame.resize(wire::encode(h, write, frame));
  REQUIRE(frame.size() == 1060);

  SECTION("exact and padded frames decode, data trimmed to the sectors") {
    frame.resize(frame.size() + 20);  // trailing bytes after the data
    wire::Frame out;
    REQUIRE(wire::decode(frame, out) == std::error_code{});
    CHECK(to_hex(std::get<wire::AtaArg>(out.arg).data) == to_hex(data));
  }
  SECTION("one byte short") {
    frame.pop_back();
    CHECK(decode(frame) == errc::bad_data_length);
  }
  SECTION("half the data") {
    frame.resize(36 + 512);
    CHECK(decode(frame) == errc::bad_data_length);
  }
  SECTION("a response with W set carries no data and is not checked") {
    frame.resize(60);
    set(frame, 14, 0x18);
    CHECK(decode(frame) == std::error_code{});
  }
}

TEST_CASE("test-wire-decode-header-only", "[wire]") {
  // decode_header routes on the 24-byte common header without touching the Arg.
  Buffer frame = mask_frame();
  set(frame, 27, 200);
  frame.resize(wire::common_header_size);
  wire::Header h;
  REQUIRE(wire::decode_header(frame, h) == std::error_code{});
  CHECK(h.response);
  CHECK_FALSE(h.error);
  CHECK(h.shelf == 1);
  CHECK(h.slot == 2);
  CHECK(h.command == wire::Command::mac_mask);
  CHECK(h.tag == 0x80000001);
  CHECK(h.src == target_mac);
  CHECK(decode(frame) == errc::frame_too_short);
}

TEST_CASE("test-wire-decode-error-code-without-e-flag", "[wire]") {
  // The Error byte is only meaningful with E set; decoding reports both as read.
  Buffer frame = ata_frame();
  set(frame, 15, 3);
  wire::Header h;
  REQUIRE(wire::decode_header(frame, h) == std::error_code{});
  CHECK_FALSE(h.error);
  set(frame, 14, 0x1C);
  REQUIRE(wire::decode_header(frame, h) == std::error_code{});
  CHECK(h.error);
  CHECK(h.error_code == 3);
}
