// test_wire_support.h: hex golden frames and the addresses the codec tests share.
#pragma once

#include "initiator/wire.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aoe::test {

using Buffer = std::vector<std::byte>;

inline constexpr wire::Mac target_mac{0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
inline constexpr wire::Mac host_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline constexpr wire::Mac other_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

// Ethernet header of a request (us -> target) and of a response, as hex.
inline const std::string to_target = "001122334455 020000000001 88a2 ";
inline const std::string to_host = "020000000001 001122334455 88a2 ";

// Bytes from hex text; spaces, newlines and '|' are ignored so golden frames
// can be laid out field by field.
inline Buffer hex(std::string_view text) {
  Buffer out;
  int high = -1;
  for (char c : text) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if (c == ' ' || c == '\n' || c == '|') continue;
    else FAIL("bad hex character '" << c << "'");
    if (high < 0) {
      high = v;
    } else {
      out.push_back(std::byte(static_cast<unsigned char>(high << 4 | v)));
      high = -1;
    }
  }
  REQUIRE(high < 0);
  return out;
}

// n zero bytes as hex text, for padding.
inline std::string zeros(std::size_t n) { return std::string(2 * n, '0'); }

inline std::string to_hex(wire::Bytes bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (std::byte b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    s += digits[v >> 4];
    s += digits[v & 0x0F];
  }
  return s;
}

inline wire::Bytes bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

inline std::string string_of(wire::Bytes b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// A data block whose bytes differ by position, so a shifted copy shows.
inline Buffer pattern(std::size_t size, unsigned seed = 0) {
  Buffer out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = std::byte(static_cast<unsigned char>(i * 7 + seed));
  return out;
}

// A request from us to the target, or the target's answer.
inline wire::Header request(std::uint16_t shelf, std::uint8_t slot, std::uint32_t tag) {
  wire::Header h;
  h.dst = target_mac;
  h.src = host_mac;
  h.shelf = shelf;
  h.slot = slot;
  h.tag = tag;
  return h;
}

inline wire::Header response(std::uint16_t shelf, std::uint8_t slot, std::uint32_t tag) {
  wire::Header h = request(shelf, slot, tag);
  h.dst = host_mac;
  h.src = target_mac;
  h.response = true;
  return h;
}

inline void check_header(const wire::Header& got, const wire::Header& want, wire::Command command) {
  CHECK(got.dst == want.dst);
  CHECK(got.src == want.src);
  CHECK(got.response == want.response);
  CHECK(got.error == want.error);
  CHECK(got.error_code == want.error_code);
  CHECK(got.shelf == want.shelf);
  CHECK(got.slot == want.slot);
  CHECK(got.command == command);
  CHECK(got.tag == want.tag);
}

// Encodes `arg`, requires the golden bytes, then decodes the golden bytes and
// checks the header; returns the decoded Arg for the caller's field checks.
// `golden` must outlive the returned spans.
template <class A>
A golden_round_trip(const wire::Header& header, const A& arg, const Buffer& golden) {
  Buffer out(golden.size() + 64, std::byte{0xEE});
  const std::size_t n = wire::encode(header, arg, out);
  REQUIRE(n == golden.size());
  CHECK(to_hex(wire::Bytes(out).first(n)) == to_hex(golden));

  wire::Frame frame;
  REQUIRE(wire::decode(golden, frame) == std::error_code{});
  REQUIRE(std::holds_alternative<A>(frame.arg));
  wire::Command command = wire::Command::ata;
  if constexpr (std::is_same_v<A, wire::ConfigArg>) command = wire::Command::query_config;
  if constexpr (std::is_same_v<A, wire::MaskArg>) command = wire::Command::mac_mask;
  if constexpr (std::is_same_v<A, wire::ReserveArg>) command = wire::Command::reserve;
  check_header(frame.header, header, command);
  return std::get<A>(frame.arg);
}

}  // namespace aoe::test
