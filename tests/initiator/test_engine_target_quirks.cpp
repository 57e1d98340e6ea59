// Targets that claim what they cannot do: a capacity beyond the addressing
// mode, and a FLUSH CACHE advertised in IDENTIFY but answered with ABRT
// (an error each time: only the flush before serving decides there is none).
#include "initiator/engine.h"

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;

TEST_CASE("test-engine-capacity-beyond-lba28-never-wraps", "[engine][identify]") {
  FakeTargetOptions t;
  t.lba48 = false;
  EngineLab lab(t);
  // A forged IDENTIFY: LBA28 only, words 60-61 claiming 2^32 - 1 sectors.
  auto block = make_identify(t.sectors, false, true, true);
  block[120] = block[121] = block[122] = block[123] = std::byte{0xFF};
  TargetInfo info = lab.engine->target();
  REQUIRE_FALSE(parse_identify(block, info.identity));
  lab.engine = std::make_unique<Engine>(lab.io, info, lab.on_clock(calm_options()));
  CHECK(lab.engine->size_bytes() == std::uint64_t{0x0FFFFFFF} * 512);

  // Sector 2^28 would go out as LBA 0 (28 bits): it is past the end instead.
  std::vector<std::byte> sector(512);
  CHECK(lab.read(std::uint64_t{1} << 37, sector) == errc::out_of_range);
  CHECK(lab.wire().sent_from(0).empty());
  // The last sector goes out with its own LBA (the fake disk is smaller: IDNF).
  CHECK(lab.read(std::uint64_t{0x0FFFFFFE} * 512, sector) == errc::ata_out_of_range);
  auto frames = ata_frames(lab.wire().sent_from(0));
  REQUIRE(frames.size() == 1);
  CHECK(std::get<wire::AtaArg>(frames[0].arg).lba == 0xEFFF'FFFE);

  // Rediscovery cannot raise it past the mode either.
  lab.engine->set_capacity(std::uint64_t{1} << 40);
  CHECK(lab.engine->size_bytes() == std::uint64_t{0x0FFFFFFF} * 512);
}

TEST_CASE("test-engine-flush-abrt-fails-and-the-next-is-sent", "[engine][flush]") {
  const bool ext = GENERATE(true, false);
  FakeTargetOptions t;
  t.flush_ext = ext;
  EngineLab lab(t);
  // IDENTIFY advertises the flush; the target aborts one (ATA also aborts a
  // flush it could not complete): an error, and never "no flush from now on".
  bool abort = true;
  lab.target().ata_error = [&abort](const wire::Frame& f) -> std::optional<std::uint8_t> {
    auto op = std::get<wire::AtaArg>(f.arg).cmd_status;
    if (abort && (op == wire::ata::flush_cache || op == wire::ata::flush_cache_ext)) return wire::ata::error_abrt;
    return std::nullopt;
  };
  const auto opcode = ext ? wire::ata::flush_cache_ext : wire::ata::flush_cache;
  REQUIRE(lab.engine->can_flush());
  CHECK(lab.flush() == errc::ata_aborted);
  CHECK(to_errno(lab.flush()) == EIO);  // the next one is sent, and fails again
  CHECK(lab.target().ata_commands == std::vector<std::uint8_t>{opcode, opcode});
  CHECK(lab.engine->can_flush());
  abort = false;
  CHECK_FALSE(lab.flush());
  CHECK(lab.target().ata_commands.size() == 3);
}

TEST_CASE("test-engine-flush-refused-before-serving-sends-nothing", "[engine][flush]") {
  EngineLab lab(FakeTargetOptions{});
  lab.engine->refuse_flush();  // what daemon/attached_target.cpp does when the first flush aborts
  CHECK_FALSE(lab.engine->can_flush());
  CHECK_FALSE(lab.flush());
  CHECK(lab.target().ata_commands.empty());
}

TEST_CASE("test-engine-flush-failing-with-a-media-error-stays-an-error", "[engine][flush]") {
  EngineLab lab;
  // ABRT with UNC: the flush ran and could not write a sector back.
  lab.target().ata_error = [](const wire::Frame&) -> std::optional<std::uint8_t> {
    return wire::ata::error_abrt | wire::ata::error_unc;
  };
  CHECK(lab.flush() == errc::ata_aborted);
  CHECK(to_errno(lab.flush()) == EIO);
  CHECK(lab.engine->can_flush());
}
