// disk_record.h: which disk a kernel device serves, so that a successor
// replays the kernel's held writes only onto that disk.  The first attach
// records IDENTIFY's serial, model and capacity in RUN_DIR/eS.L.disk
// (beside the status socket, status_schema.h); a resize while serving
// updates it; a device disconnected for good takes it away.  A successor
// (a restart, a crash, the root's daemon run again) checks the target now
// answering as eS.L against it before it adopts the device
// (check_adoption(), for any kernel device type: kernel_serving.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "initiator/identify.h"

namespace aoe::daemon {

struct DiskRecord {
  std::string serial;
  std::string model;
  std::uint64_t sectors = 0;
  bool operator==(const DiskRecord&) const = default;
};

DiskRecord record_of(const Identity& identity);

// --- pure (unit tested): the file's text, and the comparison.
std::string format_record(const DiskRecord& record);
std::optional<DiskRecord> parse_record(std::string_view text);
// What differs between the disk recorded and the one answering now, as a
// sentence, or nothing when they are the same disk.
std::optional<std::string> disk_mismatch(const DiskRecord& recorded, const DiskRecord& now);

// --- the file, in run_dir().
std::filesystem::path disk_record_path(const std::string& target);
std::error_code save_disk_record(const std::string& target, const Identity& identity);
void remove_disk_record(const std::string& target);

// Before adopting the device of `target` left by a predecessor: nothing if
// the disk answering now is the one recorded (or no record exists: a
// predecessor older than the record, which cannot be checked and is adopted
// as before, with a warning), else why not, naming both disks.
std::optional<std::string> check_adoption(const std::string& target, const Identity& now);

}  // namespace aoe::daemon
