// The flush of a served target (docs/aoe-protocol.md §3.5): one FLUSH CACHE
// before serving decides whether the export offers flush at all; once
// serving, a FLUSH the target aborts is EIO to the NBD client, FUA too, and
// the next flush is sent again.
#include "daemon/attached_target.h"

#include <catch2/catch.hpp>

#include "initiator/wire.h"
#include "tests/daemon/attached_lab.h"

using namespace aoe;
using namespace aoe::daemon;
using namespace aoe::test;

namespace {

bool is_flush(std::uint8_t op) { return op == wire::ata::flush_cache || op == wire::ata::flush_cache_ext; }

std::size_t flushes_sent(const FakeTarget& target) {
  return static_cast<std::size_t>(std::count_if(target.ata_commands.begin(), target.ata_commands.end(), is_flush));
}

// The target aborts every flush while `aborting` says so.
void abort_flushes(FakeTarget& target, const bool& aborting) {
  target.ata_error = [&aborting](const wire::Frame& f) -> std::optional<std::uint8_t> {
    if (aborting && is_flush(std::get<wire::AtaArg>(f.arg).cmd_status)) return wire::ata::error_abrt;
    return std::nullopt;
  };
}

}  // namespace

TEST_CASE("test-flush-abrt-while-serving-is-eio") {
  bool aborting = false;
  AttachedLab lab([&](FakeTarget& target, AttachOptions&) { abort_flushes(target, aborting); });
  const auto offered = lab.attached->server().transmission_flags();
  CHECK((offered & nbd_flag_send_flush) != 0);
  CHECK((offered & nbd_flag_send_fua) != 0);
  CHECK(flushes_sent(lab.target) == 1);  // the one before serving

  aborting = true;
  std::vector<std::byte> none;
  CHECK(lab.request(nbd_flush, 0, none) == nbd_eio);
  CHECK(flushes_sent(lab.target) == 2);
  CHECK(lab.request(nbd_flush, 0, none) == nbd_eio);  // sent again, not given up on
  CHECK(flushes_sent(lab.target) == 3);
  std::vector<std::byte> block(512, std::byte{0x3c});
  CHECK(lab.request(nbd_write, 0, block, /*FUA*/ 1) == nbd_eio);  // written, not durable
  CHECK(flushes_sent(lab.target) == 4);
  CHECK(lab.target.disk[0] == std::byte{0x3c});

  aborting = false;
  CHECK(lab.request(nbd_flush, 0, none) == 0);
  CHECK(lab.request(nbd_write, 512, block, /*FUA*/ 1) == 0);
  CHECK(flushes_sent(lab.target) == 6);
  CHECK(lab.attached->server().transmission_flags() == offered);
}

TEST_CASE("test-flush-aborted-before-serving-exports-without-flush") {
  bool aborting = true;
  AttachedLab lab([&](FakeTarget& target, AttachOptions&) { abort_flushes(target, aborting); });
  CHECK(flushes_sent(lab.target) == 1);
  const auto offered = lab.attached->server().transmission_flags();
  CHECK((offered & (nbd_flag_send_flush | nbd_flag_send_fua)) == 0);
  CHECK_FALSE(lab.attached->engine().can_flush());
  std::vector<std::byte> block(512, std::byte{0x3c});
  CHECK(lab.request(nbd_write, 0, block) == 0);
  CHECK(flushes_sent(lab.target) == 1);
}

TEST_CASE("test-flush-before-serving-media-error-keeps-flush") {
  // A media error (UNC, no ABRT) says the target has a flush that failed:
  // flush stays offered, and fails until the target can flush.
  AttachedLab lab([](FakeTarget& target, AttachOptions&) {
    target.ata_error = [](const wire::Frame& f) -> std::optional<std::uint8_t> {
      if (is_flush(std::get<wire::AtaArg>(f.arg).cmd_status)) return wire::ata::error_unc;
      return std::nullopt;
    };
  });
  CHECK((lab.attached->server().transmission_flags() & nbd_flag_send_flush) != 0);
  std::vector<std::byte> none;
  CHECK(lab.request(nbd_flush, 0, none) == nbd_eio);
}
