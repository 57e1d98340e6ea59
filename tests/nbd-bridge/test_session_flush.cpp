// A device that stops flushing while served (its target answered FLUSH with
// ABRT): connections that negotiated FLUSH/FUA keep having them acknowledged,
// new ones are no longer offered them.
#include <catch2/catch.hpp>

#include "tests/nbd-bridge/nbd_harness.h"

using namespace aoe::test;
using namespace aoe::nbd;

TEST_CASE("test-nbd-session-flush-refused-by-the-device") {
  Harness h;
  h.run();
  RawClient before(h.listener_fd());
  before.handshake_go();
  CHECK((before.export_flags & (tflag_send_flush | tflag_send_fua)) == (tflag_send_flush | tflag_send_fua));

  h.on_io([&] { h.device.stop_flushing(); });
  before.request(cmd_flush, 1, 0, 0);
  CHECK(before.simple_reply().error == 0);
  CHECK(before.write(0, pattern(4096, 1), 2, cmd_flag_fua) == 0);
  CHECK(h.on_io([&] { return h.device.flushes; }) == 0);  // nothing to send a flush to
  CHECK(before.read(0, 4096) == pattern(4096, 1));

  RawClient after(h.listener_fd());
  after.handshake_go();
  CHECK((after.export_flags & (tflag_send_flush | tflag_send_fua)) == 0);
  CHECK((after.export_flags & tflag_send_write_zeroes) != 0);  // the rest unchanged
  CHECK(h.on_io([&] { return h.server.transmission_flags(); }) == after.export_flags);
}
