// The claim rechecked while serving: an AttachedTarget holding a claim over
// a fake wire whose target port keeps a config string (as vblade does,
// docs/aoe-protocol.md §4.2), with a client speaking NBD transmission on a
// socketpair (docs/nbd-protocol.md §5.1).  Another identity in the string
// refuses writes (EPERM) and keeps reads; ours again lets writes through.
#include "daemon/attached_target.h"

#include <catch2/catch.hpp>

#include "tests/daemon/attached_lab.h"

using namespace aoe;
using namespace aoe::daemon;
using namespace aoe::test;

namespace {

const std::string our_identity = "aoe-nbd:hosta:1111";
const std::string their_identity = "aoe-nbd:hostb:2222";

// Claimed before serving, as lifecycle.cpp does.
struct ClaimedLab : AttachedLab {
  ClaimedLab()
      : AttachedLab([](FakeTarget& port, AttachOptions& options) {
          port.config = our_identity;
          options.claim_identity = our_identity;
        }) {}
};

}  // namespace

TEST_CASE("test-claim-recheck-lost-refuses-writes") {
  ClaimedLab lab;
  CHECK(lab.attached->claim_state() == ClaimState::ours);
  std::vector<std::byte> block(512, std::byte{0x5a});
  CHECK(lab.request(nbd_write, 0, block) == 0);
  CHECK(lab.target.disk[0] == std::byte{0x5a});

  // Another host forced its claim (aoe-cfg --force-claim elsewhere).
  lab.target.config = their_identity;
  REQUIRE(lab.run_until([&] { return lab.attached->claim_state() == ClaimState::lost; }));
  std::vector<std::byte> other(512, std::byte{0x77});
  CHECK(lab.request(nbd_write, 512, other) == nbd_eperm);
  CHECK(lab.target.disk[512] == std::byte{0});  // nothing reached the disk
  std::vector<std::byte> read(512);
  CHECK(lab.request(nbd_read, 0, read) == 0);
  CHECK(read == block);
  std::vector<std::byte> none;
  CHECK(lab.request(nbd_flush, 0, none) == 0);

  // Given back: writes resume.
  lab.target.config = our_identity;
  REQUIRE(lab.run_until([&] { return lab.attached->claim_state() == ClaimState::ours; }));
  CHECK(lab.request(nbd_write, 512, other) == 0);
  CHECK(lab.target.disk[512] == std::byte{0x77});
}

TEST_CASE("test-claim-recheck-empty-taken-back") {
  // A restarted vblade forgot the claim: the next rediscovery writes it back
  // ("set if empty") and writes go on.
  ClaimedLab lab;
  lab.target.config.clear();
  REQUIRE(lab.run_until([&] { return lab.target.config == our_identity; }));
  CHECK(lab.attached->claim_state() == ClaimState::ours);
  std::vector<std::byte> block(512, std::byte{0x33});
  CHECK(lab.request(nbd_write, 0, block) == 0);
}
