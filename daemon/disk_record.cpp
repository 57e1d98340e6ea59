#include "daemon/disk_record.h"

#include <fstream>
#include <sstream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "daemon/status_schema.h"
#include "base/log.h"

namespace aoe::daemon {

namespace fs = std::filesystem;

DiskRecord record_of(const Identity& identity) { return {identity.serial, identity.model, identity.sectors}; }

std::string format_record(const DiskRecord& r) {
  return nlohmann::json{{"serial", r.serial}, {"model", r.model}, {"sectors", r.sectors}}.dump() + "\n";
}

std::optional<DiskRecord> parse_record(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  const auto serial = doc.find("serial"), model = doc.find("model"), sectors = doc.find("sectors");
  if (serial == doc.end() || !serial->is_string() || model == doc.end() || !model->is_string() ||
      sectors == doc.end() || !sectors->is_number_unsigned())
    return std::nullopt;
  return DiskRecord{serial->get<std::string>(), model->get<std::string>(), sectors->get<std::uint64_t>()};
}

std::optional<std::string> disk_mismatch(const DiskRecord& recorded, const DiskRecord& now) {
  if (recorded == now) return std::nullopt;
  auto describe = [](const DiskRecord& r) {
    return fmt::format("serial \"{}\", model \"{}\", {} sectors", r.serial, r.model, r.sectors);
  };
  return fmt::format("the disk recorded at the first attach ({}) is not the one answering now ({})",
                     describe(recorded), describe(now));
}

fs::path disk_record_path(const std::string& target) { return run_dir() / (target + ".disk"); }

// Written whole under another name, then renamed: a reader never sees half.
std::error_code save_disk_record(const std::string& target, const Identity& identity) {
  std::error_code ec;
  fs::create_directories(run_dir(), ec);
  if (ec) return ec;
  const fs::path path = disk_record_path(target);
  const fs::path partial = path.string() + ".new";
  {
    std::ofstream out(partial, std::ios::trunc);
    if (!(out << format_record(record_of(identity)) << std::flush))
      return std::make_error_code(std::errc::io_error);
  }
  fs::rename(partial, path, ec);
  return ec;
}

void remove_disk_record(const std::string& target) {
  std::error_code ignored;
  fs::remove(disk_record_path(target), ignored);
}

std::optional<std::string> check_adoption(const std::string& target, const Identity& now) {
  const fs::path path = disk_record_path(target);
  std::ifstream in(path);
  if (!in) {
    log::warning("{}: no record of the disk its device served ({}): adopting it unchecked, as a predecessor "
                 "that kept no record did", target, path.string());
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto recorded = parse_record(text.str());
  if (!recorded) return fmt::format("{} is not a disk record", path.string());
  return disk_mismatch(*recorded, record_of(now));
}

}  // namespace aoe::daemon
