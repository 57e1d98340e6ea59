// The admin tools' shared steps: which ports to address, MAC lists, error
// sentences, and the MAC Mask error answer vblade sends (docs/aoe-protocol.md §5).
#include "discovery/admin.h"

#include <catch2/catch.hpp>

#include "initiator/errors.h"
#include "tests/discovery/stub_link.h"

using namespace aoe;
using namespace aoe::discovery;

namespace {

discovery::ConfigInfo config_answer(Link& link, std::uint8_t mac_last, std::uint16_t shelf, std::uint8_t slot,
                                    std::string config = {}) {
  discovery::ConfigInfo a;
  a.link = &link;
  a.mac = {2, 0, 0, 0, 0, mac_last};
  a.shelf = shelf;
  a.slot = slot;
  a.config_string = std::move(config);
  return a;
}

}  // namespace

TEST_CASE("test-admin-ports-from-answers") {
  test::StubLink eth0("eth0", 2), eth1("eth1", 3);
  // TargetPort 0x11 heard on both links (one segment): addressed once, through eth0.
  std::vector<discovery::ConfigInfo> answers{
      config_answer(eth1, 0x11, 1, 2, "b"), config_answer(eth1, 0x12, 1, 2, "c"),
      config_answer(eth0, 0x11, 1, 2, "b"), config_answer(eth0, 0x10, 1, 3), config_answer(eth0, 0x13, 2, 2)};
  auto ports = ports_from_answers(answers, 1, 2);
  REQUIRE(ports.size() == 2);
  CHECK(ports[0].link == &eth0);
  CHECK(ports[0].mac == wire::Mac{2, 0, 0, 0, 0, 0x11});
  CHECK(ports[0].config_string == "b");
  CHECK(ports[1].link == &eth1);
  CHECK(ports[1].mac == wire::Mac{2, 0, 0, 0, 0, 0x12});
  CHECK(ports[1].name() == "02:00:00:00:00:12 via eth1");
  CHECK(ports_from_answers(answers, 9, 9).empty());
}

TEST_CASE("test-admin-ports-of-target") {
  test::StubLink eth0("eth0", 2), eth1("eth1", 3);
  TargetInfo t;
  t.paths.push_back(PathInfo{&eth0, {2, 0, 0, 0, 0, 0x10}, 16, 2, 0, 1, "x"});
  t.paths.push_back(PathInfo{&eth1, {2, 0, 0, 0, 0, 0x10}, 16, 2, 0, 1, "x"});
  t.paths.push_back(PathInfo{&eth1, {2, 0, 0, 0, 0, 0x11}, 16, 2, 0, 1, "y"});
  auto ports = ports_of(t);
  REQUIRE(ports.size() == 2);
  CHECK(ports[0].link == &eth0);
  CHECK(ports[1].config_string == "y");
}

TEST_CASE("test-admin-parse-macs") {
  std::vector<wire::Mac> macs;
  CHECK(!parse_macs({"02:00:00:00:00:01", "020000000002,02:00:00:00:00:03", "02:00:00:00:00:01"}, macs));
  REQUIRE(macs.size() == 3);  // duplicates once
  CHECK(macs[1] == wire::Mac{2, 0, 0, 0, 0, 2});
  CHECK(format_macs(macs) == "02:00:00:00:00:01, 02:00:00:00:00:02, 02:00:00:00:00:03");
  CHECK(format_macs({}) == "(empty)");
  std::vector<wire::Mac> more;
  CHECK(parse_macs({"02:00:00:00:00:01,nope"}, more) == "nope");
  CHECK(parse_macs({"02:00:00:00:00:01,"}, more) == "");
}

TEST_CASE("test-admin-error-sentences") {
  CHECK(describe_error(errc::aoe_unrecognized_command, "MAC Mask List") ==
        "target does not implement MAC Mask List (AoE error 1)");
  CHECK_THAT(describe_error(errc::timed_out, "Reserve/Release"), Catch::Contains("no answer to Reserve/Release"));
  CHECK_THAT(describe_error(errc::aoe_target_reserved, "x"), Catch::Contains("AoE error 6"));

  std::vector<wire::MaskEntry> sent{{wire::MaskDirective::add, {2, 0, 0, 0, 0, 1}},
                                    {wire::MaskDirective::add, {2, 0, 0, 0, 0, 2}}};
  discovery::MaskList full{wire::MaskError::list_full, 1, {}};
  CHECK(describe_mask_error(full, sent) ==
        "mask list full at directive 2 (add 02:00:00:00:00:02) (MError 3); the 1 directive(s) before it were applied");
  discovery::MaskList bad{wire::MaskError::bad_directive, 0, {}};
  CHECK(describe_mask_error(bad, sent) ==
        "target rejected a bad directive at directive 1 (add 02:00:00:00:00:01) (MError 2)");
  discovery::MaskList odd{wire::MaskError::bad_directive, 9, {}};  // index past what we sent
  CHECK(describe_mask_error(odd, sent) == "target rejected a bad directive (MError 2); the 9 directive(s) before it were applied");
}

TEST_CASE("test-admin-mask-error-answer-decodes") {
  // vblade's answer to a failed edit: the 28-byte header alone, Dir Count =
  // index of the failing directive (here 5, which no list follows).
  std::vector<std::byte> frame(28);
  auto set = [&](std::size_t i, unsigned v) { frame[i] = std::byte(v); };
  for (std::size_t i = 0; i < 12; ++i) set(i, 2);
  set(12, 0x88), set(13, 0xA2), set(14, 0x18), set(16, 0), set(17, 1), set(18, 2), set(19, 2);
  set(20, 0xC0), set(23, 1);
  set(25, 1), set(26, 3), set(27, 5);
  wire::Frame f;
  REQUIRE(!wire::decode(frame, f));
  const auto& mask = std::get<wire::MaskArg>(f.arg);
  CHECK(mask.merror == wire::MaskError::list_full);
  CHECK(mask.dir_count == 5);
  CHECK(mask.directives.empty());
  CHECK(mask.entry(0).mac == wire::Mac{});
  // A successful answer must still carry its list.
  set(26, 0);
  CHECK(wire::decode(frame, f) == errc::bad_directive_count);
}
