// Command-line checks (tools/validate.h): what they refuse and what their
// messages name, and that the command line (tools/cli.h) refuses through
// them while parsing.
#include <catch2/catch.hpp>

#include "tools/validate.h"

using namespace aoe::tools::validate;

TEST_CASE("test-validate-interfaces: an empty name anywhere in a list is refused") {
  CHECK_FALSE(interface_list("eth0"));
  CHECK_FALSE(interface_list("eth0,eth1"));
  for (const char* bad : {"", ",", "eth0,", ",eth0", "eth0,,eth1"}) {
    auto message = interface_list(bad);
    REQUIRE(message);
    CHECK_THAT(*message, Catch::Contains("empty interface name") && Catch::Contains("eth0,eth1"));
  }
}

TEST_CASE("test-validate-numbers: NaN, infinities and text are refused, naming the range") {
  CHECK_FALSE(number("0.5", 0.1, 60, "seconds"));
  CHECK_FALSE(number("60", 0.1, 60, "seconds"));
  CHECK_FALSE(number("1e1", 0, 86400, "seconds"));
  for (const char* bad : {"nan", "NaN", "-nan", "inf", "infinity", "-inf", "abc", "", "1x", " 1", "+1", "0x10",
                          "0.05", "61", "1e999"}) {
    auto message = number(bad, 0.1, 60, "seconds");
    REQUIRE(message);
    CHECK_THAT(*message, Catch::Contains("number of seconds from 0.1 to 60"));
    CHECK_THAT(*message, !Catch::Contains("not in range"));
  }
}

TEST_CASE("test-validate-whole-numbers: fractions, signs and text are refused") {
  CHECK_FALSE(whole_number("16", 1, 16, ""));
  for (const char* bad : {"0", "17", "-1", "1.5", "abc", "", "nan"}) {
    auto message = whole_number(bad, 1, 16, "connections");
    REQUIRE(message);
    CHECK_THAT(*message, Catch::Contains("whole number of connections from 1 to 16"));
  }
}

TEST_CASE("test-validate-paths: an empty path is refused") {
  CHECK_FALSE(path("/run/e1.2.sock"));
  CHECK(path(""));
}

TEST_CASE("test-validate-target-names: out of range names say the limits") {
  CHECK_FALSE(target_name("e1.2"));
  CHECK_FALSE(target_name("e65534.254"));
  for (const char* bad : {"e70000.1", "e65535.1", "e1.255", "e1", "x1.2", ""}) {
    auto message = target_name(bad);
    REQUIRE(message);
    CHECK_THAT(*message, Catch::Contains("shelf 0-65534") && Catch::Contains("slot 0-254"));
  }
}

TEST_CASE("test-validate-meant-as-target: e, digits and dots are a target name, paths are not") {
  for (const char* target : {"e1", "e1.2", "e70000.1", "e1.", "e01.2"}) CHECK(meant_as_target(target));
  for (const char* other : {"e", "nbd0", "/dev/nbd0", "e1.sock", "./e1.2", "eth0", ""}) CHECK_FALSE(meant_as_target(other));
}

TEST_CASE("test-validate-cli: the command line refuses through the validators while parsing") {
  aoe::tools::cli::App app{"t", "t"};
  std::vector<std::string> interfaces;
  double seconds = 1;
  std::string socket;
  app.add_option("-i", interfaces)->check(InterfaceList())->allow_extra_args(false);
  app.add_option("-t", seconds)->check(Number(0.1, 60));
  app.add_option("--socket", socket)->check(Path());
  CHECK_FALSE(app.parse_error({"-i", "eth0,eth1", "-t", "0.5", "--socket", "/x"}));
  CHECK(seconds == 0.5);
  CHECK(app.parse_error({"-i", ","}));
  CHECK(app.parse_error({"-t", "nan"}));
  CHECK(app.parse_error({"--socket", ""}));
  auto message = app.parse_error({"-t", "abc"});
  REQUIRE(message);
  CHECK_THAT(*message, Catch::Contains("number of seconds from 0.1 to 60"));
}
