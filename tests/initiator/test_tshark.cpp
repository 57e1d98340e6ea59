// Cross-check of the encoder against an independent reading of the format:
// frames go into a pcap, Wireshark's AoE dissector reads them back, and what
// it shows must equal what we meant to encode, with no malformed-packet mark.
//
// Wireshark (4.0) dissects the common header and the ATA Arg; for Query
// Config, MAC Mask and Reserve it stops after the header, so the config
// string is checked as raw bytes at its doc offsets with a display filter.
#include "initiator/wire.h"

#include "tests/initiator/test_wire_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

using namespace aoe;
using namespace aoe::test;

namespace {

// Fields of `tshark -G fields` for the aoe protocol, plus the expert marks.
const std::vector<std::string> fields = {
    "frame.len",     "aoe.version",  "aoe.major",        "aoe.minor",   "aoe.cmd",     "aoe.tag",
    "aoe.response",  "aoe.flags_error", "aoe.error",     "aoe.aflags.e", "aoe.aflags.w", "aoe.sector_count",
    "aoe.ata.cmd",   "aoe.ata.status", "aoe.lba",        "_ws.expert",  "_ws.malformed",
};

struct Case {
  std::string what;
  Buffer frame;
  wire::Header header;
  wire::Command command = wire::Command::ata;
  std::optional<wire::AtaArg> ata;  // data not kept: Wireshark does not show it
  std::string config_string;
};

class Capture {
 public:
  template <class A>
  void add(std::string what, const wire::Header& h, const A& arg) {
    Case c;
    c.what = std::move(what);
    c.header = h;
    c.frame.resize(2048);
    c.frame.resize(wire::encode(h, arg, c.frame));
    REQUIRE(!c.frame.empty());
    if constexpr (std::is_same_v<A, wire::AtaArg>) {
      c.ata = arg;
      c.ata->data = {};
    } else if constexpr (std::is_same_v<A, wire::ConfigArg>) {
      c.command = wire::Command::query_config;
      c.config_string = string_of(arg.config_string);
    } else if constexpr (std::is_same_v<A, wire::MaskArg>) {
      c.command = wire::Command::mac_mask;
    } else {
      c.command = wire::Command::reserve;
    }
    cases.push_back(std::move(c));
  }

  void add_raw(std::string what, Buffer frame) {
    Case c;
    c.what = std::move(what);
    c.frame = std::move(frame);
    cases.push_back(std::move(c));
  }

  // The classic pcap format: a global header, then a record header per
  // frame; little-endian, microsecond stamps, link type 1 (Ethernet).
  void write(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary);
    const auto u32 = [&](std::uint32_t v) {
      for (int i = 0; i < 4; ++i) out.put(static_cast<char>(v >> (8 * i)));
    };
    const auto u16 = [&](std::uint16_t v) {
      out.put(static_cast<char>(v));
      out.put(static_cast<char>(v >> 8));
    };
    u32(0xa1b2c3d4);
    u16(2);
    u16(4);
    u32(0);      // thiszone
    u32(0);      // sigfigs
    u32(65535);  // snaplen
    u32(1);      // LINKTYPE_ETHERNET
    std::uint32_t second = 1;
    for (const Case& c : cases) {
      u32(second++);
      u32(0);
      u32(static_cast<std::uint32_t>(c.frame.size()));
      u32(static_cast<std::uint32_t>(c.frame.size()));
      out.write(reinterpret_cast<const char*>(c.frame.data()), static_cast<std::streamsize>(c.frame.size()));
    }
    REQUIRE(out.good());
  }

  std::vector<Case> cases;
};

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

// Runs a shell command, returns its stdout; the exit status must be 0.
// stderr is dropped: tshark warns about running as root.
std::string run(const std::string& command) {
  INFO(command);
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = ::pclose(pipe);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, separator);) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

// One map of field -> text per frame.
std::vector<std::map<std::string, std::string>> dissect(const std::filesystem::path& pcap) {
  if (!on_path("tshark")) FAIL("tshark is not on PATH: install it (scripts/test does) to run the cross-check");
  std::string command = "tshark -r '" + pcap.string() + "' -T fields -E separator=/t";
  for (const auto& f : fields) command += " -e " + f;
  std::vector<std::map<std::string, std::string>> rows;
  for (const std::string& line : split(run(command), '\n')) {
    if (line.empty()) continue;
    const auto values = split(line, '\t');
    REQUIRE(values.size() == fields.size());
    auto& row = rows.emplace_back();
    for (std::size_t i = 0; i < fields.size(); ++i) row[fields[i]] = values[i];
  }
  return rows;
}

std::uint64_t number(const std::string& text) {
  REQUIRE(!text.empty());
  return std::stoull(text, nullptr, 0);  // tshark prints 0x... for hex fields
}

bool flag(const std::string& text) { return text == "1" || text == "True"; }

std::string filter_bytes(const std::string& s) {
  std::string hex_text = to_hex(bytes_of(s));
  std::string out;
  for (std::size_t i = 0; i < hex_text.size(); i += 2) out += (i ? ":" : "") + hex_text.substr(i, 2);
  return out;
}

// A pcap file in the temporary directory, removed however the test ends.
struct TempPcap {
  explicit TempPcap(const char* name)
      : path(std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()) + ".pcap")) {}
  ~TempPcap() { std::filesystem::remove(path); }
  std::filesystem::path path;
};

}  // namespace

TEST_CASE("test-tshark-cross-check", "[wire][tshark]") {
  Capture cap;
  const Buffer sector = pattern(512);
  const Buffer two = pattern(1024, 5);

  cap.add("read ext (doc 3.7)", request(7, 3, 0x80001234), wire::ata_read(0x0102030405, 2, true));
  cap.add("read lba28", request(1, 0, 0x80100001), wire::ata_read(0x0ABCDEF1, 2, false));
  auto write48 = wire::ata_write(0xFFFFFFFFFFFF, 1, true);
  write48.data = sector;
  cap.add("write ext", request(0xFFFE, 0xFE, 0x80200002), write48);
  auto write28 = wire::ata_write(0x0FFFFFFF, 2, false);
  write28.data = two;
  cap.add("write lba28", request(0x0102, 10, 0x80300003), write28);
  cap.add("identify", request(0, 1, 0xC0000005), wire::ata_identify());
  cap.add("flush ext", request(3, 2, 0x80000010), wire::ata_flush(true));
  cap.add("flush", request(3, 2, 0x80000011), wire::ata_flush(false));

  wire::AtaArg read_answer;
  read_answer.aflags = wire::aflags::extended;
  read_answer.cmd_status = wire::ata::status_drdy;
  read_answer.lba = 0x0102030405;
  read_answer.data = two;
  cap.add("read response", response(7, 3, 0x80001234), read_answer);
  wire::AtaArg identify_answer;
  identify_answer.cmd_status = wire::ata::status_drdy | 0x10;
  identify_answer.lba = 0xA0000000;
  identify_answer.data = sector;
  cap.add("identify response", response(0, 1, 0xC0000005), identify_answer);
  wire::AtaArg idnf;
  idnf.aflags = wire::aflags::extended | wire::aflags::write;
  idnf.err_feature = wire::ata::error_idnf;
  idnf.sector_count = 1;
  idnf.cmd_status = wire::ata::status_drdy | wire::ata::status_err;
  idnf.lba = 0xFFFFFFFFFFFF;
  cap.add("ATA error response", response(0xFFFE, 0xFE, 0x80200002), idnf);
  wire::Header bad_arg = response(1, 0, 0x80100001);
  bad_arg.error = true;
  bad_arg.error_code = 2;
  cap.add("AoE error 2 response", bad_arg, wire::ata_read(0x0ABCDEF1, 2, false));

  wire::Header discovery = request(wire::broadcast_shelf, wire::broadcast_slot, 0xC0000001);
  discovery.dst = wire::broadcast_mac;
  cap.add("discovery", discovery, wire::ConfigArg{});
  const std::string labels[] = {"", "host-a", "aoe-nbd host1", "x", std::string(1023, 'L')};
  for (int ccmd = 0; ccmd <= 4; ++ccmd) {
    wire::ConfigArg config;
    config.ccmd = static_cast<wire::ConfigCommand>(ccmd);
    const std::string text = labels[ccmd] + std::to_string(ccmd);
    config.config_string = bytes_of(text);
    cap.add("config ccmd " + std::to_string(ccmd), request(5, 1, 0xC0000010 + static_cast<std::uint32_t>(ccmd)), config);
  }
  wire::ConfigArg config_answer;
  config_answer.buffer_count = 16;
  config_answer.firmware_version = 0x4019;
  config_answer.sector_count = 2;
  config_answer.aoe_version = 1;
  config_answer.config_string = bytes_of("aoe-nbd host1");
  cap.add("config response", response(5, 1, 0xC0000012), config_answer);
  wire::Header present = response(5, 1, 0xC0000013);
  present.error = true;
  present.error_code = 4;
  cap.add("config error 4", present, config_answer);

  const Buffer directives = hex("00 01 020000000001 00 02 020000000002");
  wire::MaskArg edit;
  edit.mcmd = wire::MaskCommand::edit;
  edit.dir_count = 2;
  edit.directives = directives;
  cap.add("mask edit", request(2, 0, 0xC0000020), edit);
  wire::MaskArg full;
  full.mcmd = wire::MaskCommand::edit;
  full.merror = wire::MaskError::list_full;
  cap.add("mask list full", response(2, 0, 0xC0000020), full);

  const Buffer macs = hex("020000000001 020000000002");
  wire::ReserveArg reserve;
  cap.add("reserve read", request(4, 7, 0xC0000030), reserve);
  reserve.rcmd = wire::ReserveCommand::set;
  reserve.nmacs = 2;
  reserve.macs = macs;
  cap.add("reserve set", request(4, 7, 0xC0000031), reserve);
  cap.add("reserve set response", response(4, 7, 0xC0000031), reserve);
  reserve.rcmd = wire::ReserveCommand::force_set;
  cap.add("reserve force", request(4, 7, 0xC0000032), reserve);

  const TempPcap file("test-tshark-");
  const auto& pcap = file.path;
  cap.write(pcap);
  const auto rows = dissect(pcap);
  REQUIRE(rows.size() == cap.cases.size());

  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Case& c = cap.cases[i];
    auto row = rows[i];
    INFO("frame " << i + 1 << ": " << c.what);
    CHECK(row["_ws.expert"].empty());
    CHECK(row["_ws.malformed"].empty());
    CHECK(number(row["frame.len"]) == c.frame.size());
    CHECK(number(row["aoe.version"]) == 1);
    CHECK(number(row["aoe.major"]) == c.header.shelf);
    CHECK(number(row["aoe.minor"]) == c.header.slot);
    CHECK(number(row["aoe.cmd"]) == static_cast<unsigned>(c.command));
    CHECK(number(row["aoe.tag"]) == c.header.tag);
    CHECK(flag(row["aoe.response"]) == c.header.response);
    CHECK(flag(row["aoe.flags_error"]) == c.header.error);
    if (c.header.error) CHECK(number(row["aoe.error"]) == c.header.error_code);
    else CHECK(row["aoe.error"].empty());
    if (!c.ata) continue;
    CHECK(flag(row["aoe.aflags.e"]) == ((c.ata->aflags & wire::aflags::extended) != 0));
    CHECK(flag(row["aoe.aflags.w"]) == ((c.ata->aflags & wire::aflags::write) != 0));
    CHECK(number(row["aoe.sector_count"]) == c.ata->sector_count);
    CHECK(number(row["aoe.lba"]) == c.ata->lba);
    // A response's ATA Cmd is generated from its request; Status is the byte on the wire.
    CHECK(number(row[c.header.response ? "aoe.ata.status" : "aoe.ata.cmd"]) == c.ata->cmd_status);
  }

  // Config strings: length at frame offset 30, bytes at 32 (docs/aoe-protocol.md §4.1).
  std::string filter;
  std::string want;
  for (std::size_t i = 0; i < cap.cases.size(); ++i) {
    const std::string& s = cap.cases[i].config_string;
    if (s.empty()) continue;
    const std::string n = std::to_string(i + 1);
    char length[8];
    std::snprintf(length, sizeof length, "%02x:%02x", unsigned(s.size() >> 8), unsigned(s.size() & 0xFF));
    filter += std::string(filter.empty() ? "" : " || ") + "(frame.number == " + n + " && frame[30:2] == " +
              length + " && frame[32:" + std::to_string(s.size()) + "] == " + filter_bytes(s) + ")";
    want += n + "\n";
  }
  CHECK(run("tshark -r '" + pcap.string() + "' -T fields -e frame.number -Y '" + filter + "'") == want);
}

TEST_CASE("test-tshark-detects-malformed", "[wire][tshark]") {
  // The cross-check relies on the expert marks; prove a runt ATA frame gets one.
  Capture cap;
  Buffer frame(60);
  frame.resize(wire::encode(request(7, 3, 0x80001234), wire::ata_read(1, 1, true), frame));
  frame.resize(28);
  cap.add_raw("runt ATA request", frame);
  const TempPcap file("test-tshark-runt-");
  const auto& pcap = file.path;
  cap.write(pcap);
  const auto rows = dissect(pcap);
  REQUIRE(rows.size() == 1);
  auto row = rows[0];
  CHECK(!row["_ws.malformed"].empty());
  CHECK(number(row["aoe.major"]) == 7);
}
