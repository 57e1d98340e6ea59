// The backend identifier of our nbd devices (daemon/backend_id.h), which
// udev reads back to name /dev/etherd/eS.L: only what backend_id() writes
// comes back, so no other nbd user's identifier can make a link.
#include <catch2/catch.hpp>

#include "daemon/backend_id.h"

using aoe::daemon::backend_id;
using aoe::daemon::target_of_backend;

TEST_CASE("test-backend-id-round-trip: the identifier names the target and reads back") {
  CHECK(backend_id("e1.2") == "aoe-nbd:e1.2");
  for (const char* target : {"e0.0", "e1.2", "e65534.254"}) CHECK(target_of_backend(backend_id(target)) == target);
}

TEST_CASE("test-backend-id-foreign: other identifiers name no target") {
  for (const char* id : {"", "aoe-nbd:", "e1.2", "nbd-client:e1.2", "aoe-nbd:e01.2", "aoe-nbd:e1.02",
                         "aoe-nbd:e70000.1", "aoe-nbd:e65535.1", "aoe-nbd:e1.255", "aoe-nbd:e1.2 ",
                         "aoe-nbd:e1.2/../x", "aoe-nbd:../e1.2", "AOE-NBD:e1.2", "aoe-nbd:e1.2\n"})
    CHECK_FALSE(target_of_backend(id));
}
