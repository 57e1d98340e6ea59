// Commands 1-3 (docs/aoe-protocol.md §4-§6): Query Config, MAC Mask List, Reserve/Release.
#include "initiator/wire.h"

#include "initiator/errors.h"
#include "tests/initiator/test_wire_support.h"

using namespace aoe;
using namespace aoe::test;

namespace {

// "aoe-nbd host1" as hex, 13 bytes.
const std::string label = "aoe-nbd host1";
const std::string label_hex = "61 6f 65 2d 6e 62 64 20 68 6f 73 74 31";

wire::ConfigArg config_request(wire::ConfigCommand ccmd, std::string_view text) {
  wire::ConfigArg arg;
  arg.ccmd = ccmd;
  arg.config_string = bytes_of(text);
  return arg;
}

}  // namespace

TEST_CASE("test-wire-config-discovery-golden", "[wire][config]") {
  // Broadcast CCmd 0 to every shelf and slot (docs/aoe-protocol.md §4.3); 32 bytes padded to 60.
  const Buffer golden = hex("ffffffffffff 020000000001 88a2 "
                            "10 00 | ffff ff 01 | c0000001 |"
                            "0000 0000 00 00 0000 |" +
                            zeros(28));
  wire::Header h = request(wire::broadcast_shelf, wire::broadcast_slot, 0xC0000001);
  h.dst = wire::broadcast_mac;
  const auto got = golden_round_trip(h, wire::ConfigArg{}, golden);
  CHECK(got.ccmd == wire::ConfigCommand::read);
  CHECK(got.config_string.empty());
}

TEST_CASE("test-wire-config-subcommands-golden", "[wire][config]") {
  // CCmd 0..4 share one layout; the low nibble of byte 29 carries the sub-command.
  const auto ccmd = GENERATE(range(0, 5));
  const Buffer golden = hex(to_target +
                            "10 00 | 0005 01 01 | c0000002 |"
                            "0000 0000 00 0" + std::to_string(ccmd) + " 000d |" + label_hex + " |" + zeros(15));
  const auto arg = config_request(static_cast<wire::ConfigCommand>(ccmd), label);
  const auto got = golden_round_trip(request(5, 1, 0xC0000002), arg, golden);
  CHECK(static_cast<int>(got.ccmd) == ccmd);
  CHECK(got.aoe_version == 0);
  CHECK(string_of(got.config_string) == label);
}

TEST_CASE("test-wire-config-response-golden", "[wire][config]") {
  // vblade's answer: Buffer Count 16, firmware 0x4019, 2 sectors, AoE version 1.
  const Buffer golden = hex(to_host +
                            "18 00 | 0005 01 01 | c0000002 |"
                            "0010 4019 02 10 000d |" + label_hex + " |" + zeros(15));
  wire::ConfigArg arg = config_request(wire::ConfigCommand::read, label);
  arg.buffer_count = 16;
  arg.firmware_version = 0x4019;
  arg.sector_count = 2;
  arg.aoe_version = 1;
  const auto got = golden_round_trip(response(5, 1, 0xC0000002), arg, golden);
  CHECK(got.buffer_count == 16);
  CHECK(got.firmware_version == 0x4019);
  CHECK(got.max_sectors() == 2);
  CHECK(got.aoe_version == 1);
  CHECK(got.ccmd == wire::ConfigCommand::read);
  CHECK(string_of(got.config_string) == label);
}

TEST_CASE("test-wire-config-max-sectors", "[wire][config]") {
  // A Sector Count of 0 is legacy for 2 (docs/aoe-protocol.md §4.1).
  const Buffer golden = hex(to_host + "18 00 | 0005 01 01 | 00000000 | 0040 4019 00 14 0000 |" + zeros(28));
  wire::Frame frame;
  REQUIRE(wire::decode(golden, frame) == std::error_code{});
  const auto& arg = std::get<wire::ConfigArg>(frame.arg);
  CHECK(arg.sector_count == 0);
  CHECK(arg.max_sectors() == 2);
  CHECK(arg.ccmd == wire::ConfigCommand::force_set);
  CHECK(frame.header.tag == 0);  // vblade's unsolicited announcement (docs/aoe-protocol.md §2.6)

  wire::ConfigArg jumbo;
  jumbo.sector_count = 17;
  CHECK(jumbo.max_sectors() == 17);
}

TEST_CASE("test-wire-config-error-response-golden", "[wire][config][error]") {
  // Set-if-empty refused: E set, error 4, the request echoed (docs/aoe-protocol.md §4.2).
  const Buffer golden = hex(to_host +
                            "1c 04 | 0005 01 01 | c0000003 |"
                            "0000 0000 00 03 000d |" + label_hex + " |" + zeros(15));
  wire::Header h = response(5, 1, 0xC0000003);
  h.error = true;
  h.error_code = 4;
  const auto got = golden_round_trip(h, config_request(wire::ConfigCommand::set_if_empty, label), golden);
  CHECK(got.ccmd == wire::ConfigCommand::set_if_empty);
  CHECK(from_aoe_error(4) == errc::aoe_config_string_present);
}

TEST_CASE("test-wire-config-max-string", "[wire][config]") {
  // 1024 bytes is the limit: a 1056-byte frame (docs/aoe-protocol.md §4.1); one more is refused.
  const std::string text(1024, 'x');
  Buffer out(2048);
  const auto h = request(5, 1, 0xC0000004);
  const std::size_t n = wire::encode(h, config_request(wire::ConfigCommand::force_set, text), out);
  REQUIRE(n == 1056);
  wire::Frame frame;
  REQUIRE(wire::decode(wire::Bytes(out).first(n), frame) == std::error_code{});
  CHECK(string_of(std::get<wire::ConfigArg>(frame.arg).config_string) == text);

  const std::string too_long(1025, 'x');
  CHECK(wire::encode(h, config_request(wire::ConfigCommand::force_set, too_long), out) == 0);
}

TEST_CASE("test-wire-mask-read-golden", "[wire][mask]") {
  const Buffer req = hex(to_target + "10 00 | 0002 00 02 | c0000010 | 00 00 00 00 |" + zeros(32));
  const auto asked = golden_round_trip(request(2, 0, 0xC0000010), wire::MaskArg{}, req);
  CHECK(asked.mcmd == wire::MaskCommand::read);
  CHECK(asked.dir_count == 0);

  // The list comes back as directives with DCmd 0 (docs/aoe-protocol.md §5).
  const Buffer list = hex("00 00 020000000001 | 00 00 0a0b0c0d0e0f");
  const Buffer rsp = hex(to_host +
                         "18 00 | 0002 00 02 | c0000010 | 00 00 00 02 |"
                         "00 00 020000000001 | 00 00 0a0b0c0d0e0f |" +
                         zeros(16));
  wire::MaskArg answer;
  answer.dir_count = 2;
  answer.directives = list;
  const auto got = golden_round_trip(response(2, 0, 0xC0000010), answer, rsp);
  REQUIRE(got.dir_count == 2);
  CHECK(got.merror == wire::MaskError::ok);
  CHECK(got.entry(0).directive == wire::MaskDirective::none);
  CHECK(got.entry(0).mac == host_mac);
  CHECK(got.entry(1).mac == wire::Mac{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f});
}

TEST_CASE("test-wire-mask-edit-golden", "[wire][mask]") {
  const Buffer directives = hex("00 01 020000000001 | 00 02 020000000002");
  const Buffer req = hex(to_target +
                         "10 00 | 0002 00 02 | c0000011 | 00 01 00 02 |"
                         "00 01 020000000001 | 00 02 020000000002 |" +
                         zeros(16));
  wire::MaskArg edit;
  edit.mcmd = wire::MaskCommand::edit;
  edit.dir_count = 2;
  edit.directives = directives;
  const auto got = golden_round_trip(request(2, 0, 0xC0000011), edit, req);
  CHECK(got.mcmd == wire::MaskCommand::edit);
  CHECK(got.entry(0).directive == wire::MaskDirective::add);
  CHECK(got.entry(0).mac == host_mac);
  CHECK(got.entry(1).directive == wire::MaskDirective::remove);
  CHECK(got.entry(1).mac == other_mac);

  SECTION("success: the new list") {
    const Buffer list = hex("00 00 020000000001");
    const Buffer rsp = hex(to_host + "18 00 | 0002 00 02 | c0000011 | 00 01 00 01 | 00 00 020000000001 |" +
                           zeros(24));
    wire::MaskArg answer;
    answer.mcmd = wire::MaskCommand::edit;
    answer.dir_count = 1;
    answer.directives = list;
    const auto back = golden_round_trip(response(2, 0, 0xC0000011), answer, rsp);
    CHECK(back.entry(0).mac == host_mac);
  }
  SECTION("MError 2 and 3 ride in the Arg, not the header E flag") {
    const auto merror = GENERATE(2, 3);
    // vblade: Dir Count = index of the failing directive, no list (docs/aoe-protocol.md §5).
    const Buffer rsp = hex(to_host + "18 00 | 0002 00 02 | c0000011 | 00 01 0" + std::to_string(merror) +
                           " 00 |" + zeros(32));
    wire::MaskArg answer;
    answer.mcmd = wire::MaskCommand::edit;
    answer.merror = static_cast<wire::MaskError>(merror);
    const auto back = golden_round_trip(response(2, 0, 0xC0000011), answer, rsp);
    CHECK(static_cast<int>(back.merror) == merror);
    CHECK(back.dir_count == 0);
  }
}

TEST_CASE("test-wire-mask-entry-bounds", "[wire][mask]") {
  // entry() past the list returns an empty entry instead of reading beyond it.
  const Buffer one = hex("00 01 020000000001");
  wire::MaskArg arg;
  arg.dir_count = 3;  // lies: only one entry present
  arg.directives = one;
  CHECK(arg.entry(0).mac == host_mac);
  CHECK(arg.entry(1).mac == wire::Mac{});
  CHECK(arg.entry(1).directive == wire::MaskDirective::none);
  arg.dir_count = 1;
  CHECK(arg.entry(5).mac == wire::Mac{});
}

TEST_CASE("test-wire-reserve-read-golden", "[wire][reserve]") {
  const Buffer req = hex(to_target + "10 00 | 0004 07 03 | c0000020 | 00 00 |" + zeros(34));
  const auto asked = golden_round_trip(request(4, 7, 0xC0000020), wire::ReserveArg{}, req);
  CHECK(asked.rcmd == wire::ReserveCommand::read);
  CHECK(asked.nmacs == 0);

  const Buffer macs = hex("020000000002");
  const Buffer rsp = hex(to_host + "18 00 | 0004 07 03 | c0000020 | 00 01 | 020000000002 |" + zeros(28));
  wire::ReserveArg answer;
  answer.nmacs = 1;
  answer.macs = macs;
  const auto got = golden_round_trip(response(4, 7, 0xC0000020), answer, rsp);
  REQUIRE(got.nmacs == 1);
  CHECK(got.mac(0) == other_mac);
}

TEST_CASE("test-wire-reserve-set-golden", "[wire][reserve]") {
  // A multi-NIC initiator lists every local MAC (docs/aoe-protocol.md §6).
  const Buffer macs = hex("020000000001 020000000002");
  const Buffer req = hex(to_target + "10 00 | 0004 07 03 | c0000021 | 01 02 | 020000000001 020000000002 |" +
                         zeros(22));
  wire::ReserveArg set;
  set.rcmd = wire::ReserveCommand::set;
  set.nmacs = 2;
  set.macs = macs;
  const auto got = golden_round_trip(request(4, 7, 0xC0000021), set, req);
  CHECK(got.rcmd == wire::ReserveCommand::set);
  CHECK(got.mac(0) == host_mac);
  CHECK(got.mac(1) == other_mac);

  SECTION("the answer carries the resulting list") {
    const Buffer rsp = hex(to_host + "18 00 | 0004 07 03 | c0000021 | 01 02 | 020000000001 020000000002 |" +
                           zeros(22));
    const auto back = golden_round_trip(response(4, 7, 0xC0000021), set, rsp);
    CHECK(back.nmacs == 2);
  }
  SECTION("release is a set with no MACs") {
    const Buffer release = hex(to_target + "10 00 | 0004 07 03 | c0000022 | 01 00 |" + zeros(34));
    wire::ReserveArg empty;
    empty.rcmd = wire::ReserveCommand::set;
    const auto back = golden_round_trip(request(4, 7, 0xC0000022), empty, release);
    CHECK(back.macs.empty());
  }
  SECTION("held by another host: AoE error 6") {
    const Buffer rsp = hex(to_host + "1c 06 | 0004 07 03 | c0000021 | 01 02 | 020000000001 020000000002 |" +
                           zeros(22));
    wire::Header h = response(4, 7, 0xC0000021);
    h.error = true;
    h.error_code = 6;
    golden_round_trip(h, set, rsp);
    CHECK(from_aoe_error(6) == errc::aoe_target_reserved);
  }
}

TEST_CASE("test-wire-reserve-force-golden", "[wire][reserve]") {
  const Buffer macs = hex("020000000001");
  const Buffer req = hex(to_target + "10 00 | 0004 07 03 | c0000023 | 02 01 | 020000000001 |" + zeros(28));
  wire::ReserveArg force;
  force.rcmd = wire::ReserveCommand::force_set;
  force.nmacs = 1;
  force.macs = macs;
  const auto got = golden_round_trip(request(4, 7, 0xC0000023), force, req);
  CHECK(got.rcmd == wire::ReserveCommand::force_set);
  CHECK(got.mac(0) == host_mac);

  const Buffer rsp = hex(to_host + "18 00 | 0004 07 03 | c0000023 | 02 01 | 020000000001 |" + zeros(28));
  const auto back = golden_round_trip(response(4, 7, 0xC0000023), force, rsp);
  CHECK(back.mac(0) == host_mac);
}

TEST_CASE("test-wire-reserve-mac-bounds", "[wire][reserve]") {
  const Buffer one = hex("020000000001");
  wire::ReserveArg arg;
  arg.nmacs = 2;  // lies: only one MAC present
  arg.macs = one;
  CHECK(arg.mac(0) == host_mac);
  CHECK(arg.mac(1) == wire::Mac{});
  arg.nmacs = 1;
  CHECK(arg.mac(1) == wire::Mac{});
}
