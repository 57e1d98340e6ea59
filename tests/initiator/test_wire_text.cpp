// MAC addresses and target names as text.
#include "initiator/wire.h"

#include <catch2/catch.hpp>

using namespace aoe;

TEST_CASE("test-wire-format-mac", "[wire][text]") {
  CHECK(wire::format_mac({0x00, 0x11, 0x22, 0xaa, 0xBB, 0xff}) == "00:11:22:aa:bb:ff");
  CHECK(wire::format_mac(wire::broadcast_mac) == "ff:ff:ff:ff:ff:ff");
  CHECK(wire::format_mac(wire::Mac{}) == "00:00:00:00:00:00");
}

TEST_CASE("test-wire-parse-mac", "[wire][text]") {
  const wire::Mac want{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xff};
  for (const char* text : {"00:11:22:aa:bb:ff", "00:11:22:AA:BB:FF", "001122aabbff"}) {
    wire::Mac mac{};
    INFO(text);
    CHECK(wire::parse_mac(text, mac));
    CHECK(mac == want);
  }
  for (const char* text : {"", "00:11:22:aa:bb", "00:11:22:aa:bb:ff:", "00-11-22-aa-bb-ff",
                           "00:11:22:aa:bb:fg", "0:11:22:aa:bb:ff0", "001122aabbf", "001122aabbffe",
                           "00:11:22:aa:bbff ", " 0:11:22:aa:bb:ff"}) {
    wire::Mac mac = want;
    INFO(text);
    CHECK_FALSE(wire::parse_mac(text, mac));
    CHECK(mac == want);  // untouched on failure
  }
}

TEST_CASE("test-wire-format-target", "[wire][text]") {
  CHECK(wire::format_target(1, 2) == "e1.2");
  CHECK(wire::format_target(0, 0) == "e0.0");
  CHECK(wire::format_target(0xFFFE, 0xFE) == "e65534.254");
}

TEST_CASE("test-wire-parse-target", "[wire][text]") {
  const struct {
    const char* text;
    std::uint16_t shelf;
    std::uint8_t slot;
  } good[] = {{"e1.2", 1, 2}, {"e0.0", 0, 0}, {"e7.3", 7, 3}, {"e65534.254", 0xFFFE, 0xFE}, {"e01.002", 1, 2}};
  for (const auto& g : good) {
    std::uint16_t shelf = 99;
    std::uint8_t slot = 99;
    INFO(g.text);
    REQUIRE(wire::parse_target(g.text, shelf, slot));
    CHECK(shelf == g.shelf);
    CHECK(slot == g.slot);
    CHECK(wire::parse_target(wire::format_target(shelf, slot), shelf, slot));
  }
  // Junk, overflow and the broadcast values 0xFFFF / 0xFF (docs/aoe-protocol.md §2.3).
  for (const char* text : {"", "e", "e1", "e1.", "e.2", "1.2", "E1.2", "e1.2x", "e1.2.3", "e1..2", "ex.2",
                           "e-1.2", "e+1.2", "e 1.2", "e1. 2", "e1.-2", "e65535.1", "e1.255", "e65536.1",
                           "e1.256", "e99999999999999999999.1", "e1.99999999999999999999", " e1.2", "e1.2 "}) {
    std::uint16_t shelf = 99;
    std::uint8_t slot = 99;
    INFO(text);
    CHECK_FALSE(wire::parse_target(text, shelf, slot));
    CHECK(shelf == 99);
    CHECK(slot == 99);
  }
}
