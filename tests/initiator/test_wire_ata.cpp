// Command 0, Issue ATA Command (docs/aoe-protocol.md §3): golden frames both ways and the builders.
#include "initiator/wire.h"

#include "initiator/errors.h"
#include "tests/initiator/test_wire_support.h"

#include <algorithm>

using namespace aoe;
using namespace aoe::test;

TEST_CASE("test-wire-ata-read-ext-golden", "[wire][ata]") {
  // docs/aoe-protocol.md §3.7 byte for byte: READ SECTORS EXT, 2 sectors at LBA 0x0102030405, e7.3.
  const Buffer golden = hex(to_target +
                            "10 00 | 0007 03 00 | 80001234 |"
                            "40 00 02 24 | 05 04 03 02 01 00 | 0000 |" +
                            zeros(24));
  REQUIRE(golden.size() == 60);
  const auto arg = wire::ata_read(0x0102030405, 2, true);
  const auto got = golden_round_trip(request(7, 3, 0x80001234), arg, golden);
  CHECK(got.aflags == wire::aflags::extended);
  CHECK(got.err_feature == 0);
  CHECK(got.sector_count == 2);
  CHECK(got.cmd_status == wire::ata::read_sectors_ext);
  CHECK(got.lba == 0x0102030405);
  CHECK(got.data.size() == 24);  // padding: the engine knows a read request has none
}

TEST_CASE("test-wire-ata-read-ext-response-golden", "[wire][ata]") {
  // docs/aoe-protocol.md §3.7's matching response: R set, count 0, status DRDY, 1024 data bytes.
  const Buffer data = pattern(1024);
  Buffer golden = hex(to_host +
                      "18 00 | 0007 03 00 | 80001234 |"
                      "40 00 00 40 | 05 04 03 02 01 00 | 0000");
  golden.insert(golden.end(), data.begin(), data.end());

  wire::AtaArg arg;
  arg.aflags = wire::aflags::extended;
  arg.cmd_status = wire::ata::status_drdy;
  arg.lba = 0x0102030405;
  arg.data = data;
  const auto got = golden_round_trip(response(7, 3, 0x80001234), arg, golden);
  CHECK(got.aflags == 0x40);
  CHECK(got.sector_count == 0);
  CHECK(got.cmd_status == 0x40);
  CHECK((got.cmd_status & wire::ata::failure_mask) == 0);
  CHECK(to_hex(got.data) == to_hex(data));
}

TEST_CASE("test-wire-ata-read-lba28-golden", "[wire][ata]") {
  // LBA28: lba3 = 0xE0 | lba[27:24], lba4 = lba5 = 0, no E flag (docs/aoe-protocol.md §3.3).
  const Buffer golden = hex(to_target +
                            "10 00 | 0001 00 00 | 80000001 |"
                            "00 00 02 20 | f1 de bc ea 00 00 | 0000 |" +
                            zeros(24));
  const auto got = golden_round_trip(request(1, 0, 0x80000001), wire::ata_read(0x0ABCDEF1, 2, false), golden);
  CHECK(got.aflags == 0);
  CHECK(got.cmd_status == wire::ata::read_sectors);
  CHECK(got.lba == 0xEABCDEF1);
}

TEST_CASE("test-wire-ata-read-lba28-response-golden", "[wire][ata]") {
  const Buffer data = pattern(1024, 3);
  Buffer golden = hex(to_host +
                      "18 00 | 0001 00 00 | 80000001 |"
                      "00 00 00 50 | f1 de bc ea 00 00 | 0000");
  golden.insert(golden.end(), data.begin(), data.end());
  wire::AtaArg arg;
  arg.cmd_status = wire::ata::status_drdy | 0x10;  // DSC, as real drives report it
  arg.lba = 0xEABCDEF1;
  arg.data = data;
  const auto got = golden_round_trip(response(1, 0, 0x80000001), arg, golden);
  CHECK(got.cmd_status == 0x50);
  CHECK(got.data.size() == 1024);
}

TEST_CASE("test-wire-ata-write-ext-golden", "[wire][ata]") {
  const Buffer data(512, std::byte{0xA5});
  Buffer golden = hex(to_target +
                      "10 00 | 0102 0a 00 | 80300007 |"
                      "41 00 01 34 | bc 9a 78 56 34 12 | 0000");
  golden.insert(golden.end(), data.begin(), data.end());

  auto arg = wire::ata_write(0x123456789ABC, 1, true);
  arg.data = data;
  const auto got = golden_round_trip(request(0x0102, 10, 0x80300007), arg, golden);
  CHECK(got.aflags == (wire::aflags::extended | wire::aflags::write));
  CHECK(got.cmd_status == wire::ata::write_sectors_ext);
  CHECK(got.lba == 0x123456789ABC);
  CHECK(got.data.size() == 512);
}

TEST_CASE("test-wire-ata-write-lba28-golden", "[wire][ata]") {
  const Buffer data = pattern(1024, 1);
  Buffer golden = hex(to_target +
                      "10 00 | fffe fe 00 | 80000002 |"
                      "01 00 02 30 | 00 01 00 e0 00 00 | 0000");
  golden.insert(golden.end(), data.begin(), data.end());

  auto arg = wire::ata_write(0x100, 2, false);
  arg.data = data;
  const auto got = golden_round_trip(request(0xFFFE, 0xFE, 0x80000002), arg, golden);
  CHECK(got.aflags == wire::aflags::write);
  CHECK(got.cmd_status == wire::ata::write_sectors);
  CHECK(got.lba == 0xE0000100);
  CHECK(to_hex(got.data) == to_hex(data));
}

TEST_CASE("test-wire-ata-write-response-golden", "[wire][ata]") {
  // A write's answer carries no data: 36 bytes padded to 60 (docs/aoe-protocol.md §7).
  const Buffer golden = hex(to_host +
                            "18 00 | 0102 0a 00 | 80300007 |"
                            "41 00 00 40 | bc 9a 78 56 34 12 | 0000 |" +
                            zeros(24));
  wire::AtaArg arg;
  arg.aflags = wire::aflags::extended | wire::aflags::write;
  arg.cmd_status = wire::ata::status_drdy;
  arg.lba = 0x123456789ABC;
  const auto got = golden_round_trip(response(0x0102, 10, 0x80300007), arg, golden);
  CHECK(got.aflags == 0x41);
  CHECK(got.data.size() == 24);  // no write-data check on a response
}

TEST_CASE("test-wire-ata-identify-golden", "[wire][ata]") {
  // IDENTIFY: count 1, lba3 = 0xA0, no flags (docs/aoe-protocol.md §3.3, §3.5).
  const Buffer req = hex(to_target +
                         "10 00 | 0000 01 00 | c0000005 |"
                         "00 00 01 ec | 00 00 00 a0 00 00 | 0000 |" +
                         zeros(24));
  const auto got = golden_round_trip(request(0, 1, 0xC0000005), wire::ata_identify(), req);
  CHECK(got.cmd_status == wire::ata::identify_device);
  CHECK(got.sector_count == 1);
  CHECK(got.lba == 0xA0000000);

  const Buffer block = pattern(512, 9);
  Buffer rsp = hex(to_host +
                   "18 00 | 0000 01 00 | c0000005 |"
                   "00 00 00 40 | 00 00 00 a0 00 00 | 0000");
  rsp.insert(rsp.end(), block.begin(), block.end());
  wire::AtaArg answer;
  answer.cmd_status = wire::ata::status_drdy;
  answer.lba = 0xA0000000;
  answer.data = block;
  const auto back = golden_round_trip(response(0, 1, 0xC0000005), answer, rsp);
  CHECK(rsp.size() == 548);  // the IDENTIFY answer size quoted in docs/aoe-protocol.md §7
  CHECK(to_hex(back.data) == to_hex(block));
}

TEST_CASE("test-wire-ata-flush-golden", "[wire][ata]") {
  SECTION("FLUSH CACHE EXT: E flag, 0xEA, no address") {
    const Buffer golden = hex(to_target +
                              "10 00 | 0003 02 00 | 80000010 |"
                              "40 00 00 ea | 00 00 00 00 00 00 | 0000 |" +
                              zeros(24));
    const auto got = golden_round_trip(request(3, 2, 0x80000010), wire::ata_flush(true), golden);
    CHECK(got.cmd_status == wire::ata::flush_cache_ext);
    CHECK(got.sector_count == 0);
  }
  SECTION("FLUSH CACHE: 0xE7, address-less device byte 0xA0") {
    const Buffer golden = hex(to_target +
                              "10 00 | 0003 02 00 | 80000011 |"
                              "00 00 00 e7 | 00 00 00 a0 00 00 | 0000 |" +
                              zeros(24));
    const auto got = golden_round_trip(request(3, 2, 0x80000011), wire::ata_flush(false), golden);
    CHECK(got.aflags == 0);
    CHECK(got.cmd_status == wire::ata::flush_cache);
  }
}

TEST_CASE("test-wire-ata-status-error-response-golden", "[wire][ata]") {
  // An ATA failure is not an AoE error: E clear, Status ERR, Error IDNF (docs/aoe-protocol.md §2.2, §3.4).
  const Buffer golden = hex(to_host +
                            "18 00 | 0007 03 00 | 80001235 |"
                            "40 10 02 41 | 00 00 00 00 01 00 | 0000 |" +
                            zeros(24));
  wire::AtaArg arg;
  arg.aflags = wire::aflags::extended;
  arg.err_feature = wire::ata::error_idnf;
  arg.sector_count = 2;
  arg.cmd_status = wire::ata::status_drdy | wire::ata::status_err;
  arg.lba = 0x0100000000;
  const auto got = golden_round_trip(response(7, 3, 0x80001235), arg, golden);
  CHECK((got.cmd_status & wire::ata::failure_mask) == wire::ata::status_err);
  CHECK(got.err_feature == wire::ata::error_idnf);
}

TEST_CASE("test-wire-aoe-error-response-golden", "[wire][ata][error]") {
  // Flags 0x1C (R|E), the code in byte 15, the request's Arg echoed (docs/aoe-protocol.md §2.2, §2.6).
  const auto code = GENERATE(as<std::uint8_t>{}, 1, 2, 3, 4, 5, 6);
  const errc want[] = {errc::aoe_unrecognized_command, errc::aoe_bad_argument,
                       errc::aoe_device_unavailable,   errc::aoe_config_string_present,
                       errc::aoe_unsupported_version,  errc::aoe_target_reserved};
  const std::string code_hex = "0" + std::to_string(code);
  const Buffer golden = hex(to_host + "1c " + code_hex +
                            " | 0007 03 00 | 80001234 |"
                            "40 00 02 24 | 05 04 03 02 01 00 | 0000 |" +
                            zeros(24));
  wire::Header h = response(7, 3, 0x80001234);
  h.error = true;
  h.error_code = code;
  const auto got = golden_round_trip(h, wire::ata_read(0x0102030405, 2, true), golden);
  CHECK(got.cmd_status == wire::ata::read_sectors_ext);
  CHECK(from_aoe_error(code) == want[code - 1]);
}

TEST_CASE("test-wire-ata-builders", "[wire][ata]") {
  SECTION("LBA28 keeps bits 0..27 and puts 0xE0 in the device nibble") {
    CHECK(wire::ata_read(0, 1, false).lba == 0xE0000000);
    CHECK(wire::ata_read(0x0FFFFFFF, 1, false).lba == 0xEFFFFFFF);
    CHECK(wire::ata_read(0x1ABCDEF1, 1, false).lba == 0xEABCDEF1);  // bit 28 is not addressable
    CHECK(wire::ata_write(0x0FFFFFFF, 1, false).lba == 0xEFFFFFFF);
  }
  SECTION("LBA48 uses all six bytes and nothing above") {
    CHECK(wire::ata_read(0xFFFFFFFFFFFF, 1, true).lba == 0xFFFFFFFFFFFF);
    CHECK(wire::ata_read(0x1000000000001, 1, true).lba == 1);
    CHECK(wire::ata_write(0x0FFFFFFF, 1, true).lba == 0x0FFFFFFF);
  }
  SECTION("opcodes and flags: 0x20 | write 0x10 | lba48 0x04 as Linux builds them") {
    for (bool write : {false, true}) {
      for (bool lba48 : {false, true}) {
        const auto a = write ? wire::ata_write(5, 3, lba48) : wire::ata_read(5, 3, lba48);
        CHECK(a.cmd_status == (0x20 | (write ? 0x10 : 0) | (lba48 ? 0x04 : 0)));
        CHECK(a.aflags == ((lba48 ? 0x40 : 0) | (write ? 0x01 : 0)));
        CHECK(a.sector_count == 3);
        CHECK(a.err_feature == 0);
        CHECK(a.data.empty());
      }
    }
  }
}

TEST_CASE("test-wire-encode-ata-header", "[wire][ata]") {
  // Scatter-gather sends: the 36-byte header alone, equal to encode()'s first 36.
  auto arg = wire::ata_write(0x0102030405, 2, true);
  const Buffer data = pattern(1024);
  arg.data = data;
  const auto h = request(7, 3, 0x80001234);

  Buffer whole(2048);
  REQUIRE(wire::encode(h, arg, whole) == 36 + 1024);
  Buffer head(64, std::byte{0xEE});
  REQUIRE(wire::encode_ata_header(h, arg, head) == wire::ata_header_size);
  CHECK(to_hex(wire::Bytes(head).first(36)) == to_hex(wire::Bytes(whole).first(36)));
  CHECK(std::all_of(head.begin() + 36, head.end(), [](std::byte b) { return b == std::byte{0xEE}; }));

  Buffer small(35);
  CHECK(wire::encode_ata_header(h, arg, small) == 0);
}

TEST_CASE("test-wire-encode-buffer-too-small", "[wire]") {
  const auto h = request(1, 1, 0x80000001);
  const Buffer data = pattern(1024);
  auto write = wire::ata_write(0, 2, true);
  write.data = data;
  Buffer out(2048);
  const auto span = [&](std::size_t n) { return wire::MutableBytes(out).first(n); };

  // Short frames still need the full 60 bytes (padding), data frames their whole size.
  CHECK(wire::encode(h, wire::ata_read(0, 2, true), span(59)) == 0);
  CHECK(wire::encode(h, wire::ata_read(0, 2, true), span(60)) == 60);
  CHECK(wire::encode(h, write, span(1059)) == 0);
  CHECK(wire::encode(h, write, span(1060)) == 1060);
  CHECK(wire::encode(h, wire::ConfigArg{}, span(59)) == 0);
  CHECK(wire::encode(h, wire::MaskArg{}, span(59)) == 0);
  CHECK(wire::encode(h, wire::ReserveArg{}, span(59)) == 0);
  CHECK(wire::encode(h, wire::ReserveArg{}, span(0)) == 0);
}

TEST_CASE("test-wire-encode-pads-with-zeros", "[wire]") {
  // The buffer may hold a previous frame: padding must be written, not assumed.
  Buffer out(100, std::byte{0xEE});
  const auto h = request(1, 1, 0x80000001);
  REQUIRE(wire::encode(h, wire::ata_read(9, 1, false), out) == 60);
  CHECK(std::all_of(out.begin() + 34, out.begin() + 60, [](std::byte b) { return b == std::byte{0}; }));
  CHECK(std::all_of(out.begin() + 60, out.end(), [](std::byte b) { return b == std::byte{0xEE}; }));

  std::fill(out.begin(), out.end(), std::byte{0xEE});
  wire::ReserveArg release;
  release.rcmd = wire::ReserveCommand::set;
  REQUIRE(wire::encode(h, release, out) == 60);
  CHECK(std::all_of(out.begin() + 26, out.begin() + 60, [](std::byte b) { return b == std::byte{0}; }));
}

TEST_CASE("test-wire-encode-ignores-header-command", "[wire]") {
  // The Arg type decides the Command byte, so a reused Header cannot mislabel a frame.
  wire::Header h = request(1, 1, 0x80000001);
  h.command = wire::Command::reserve;
  Buffer out(60);
  REQUIRE(wire::encode(h, wire::ata_identify(), out) == 60);
  CHECK(std::to_integer<int>(out[19]) == 0);
  REQUIRE(wire::encode(h, wire::ConfigArg{}, out) == 60);
  CHECK(std::to_integer<int>(out[19]) == 1);
}

TEST_CASE("test-frames-wire-answers-what-vblade-echoes", "[frames]") {
  // vblade answers in the request's buffer: AFlags and LBA bytes as sent,
  // Sector Count 0 after success (all of them on IDNF), the status in Cmd.
  for (bool lba48 : {true, false}) {
    const wire::AtaArg read = wire::ata_read(0x0123'4567, 17, lba48);
    wire::AtaArg reply = read;
    reply.sector_count = 0;
    reply.cmd_status = wire::ata::status_drdy;
    CHECK(wire::answers(read, reply));
    reply.sector_count = 17;  // IDNF: nothing done
    CHECK(wire::answers(read, reply));
    reply.sector_count = 18;
    CHECK_FALSE(wire::answers(read, reply));
    reply = read;
    reply.lba = read.lba + 17;  // registers after execution: the next sector
    CHECK(wire::answers(read, reply));
    reply.lba = read.lba + 18;
    CHECK_FALSE(wire::answers(read, reply));
    reply.lba = read.lba - 1;
    CHECK_FALSE(wire::answers(read, reply));
    reply = read;
    reply.aflags ^= wire::aflags::write;  // a write's acknowledgement
    CHECK_FALSE(wire::answers(read, reply));
    reply = read;
    reply.aflags ^= wire::aflags::extended;
    CHECK_FALSE(wire::answers(read, reply));
  }
  // LBA28: the Device nibble in lba3 (0xE0) is not address.
  wire::AtaArg read28 = wire::ata_read(5, 2, false), reply28 = read28;
  reply28.lba &= 0x00FF'FFFF;
  CHECK(wire::answers(read28, reply28));
  CHECK(wire::answers(wire::ata_identify(), wire::ata_identify()));
  CHECK(wire::answers(wire::ata_flush(true), wire::ata_flush(true)));
}
