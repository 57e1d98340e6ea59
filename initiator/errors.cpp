#include "initiator/errors.h"

#include <cerrno>
#include <string>

#include "base/error_category.h"
#include "initiator/wire.h"

namespace aoe {
namespace {

const char* describe(errc e) noexcept {
  switch (e) {
    case errc::frame_too_short: return "frame too short";
    case errc::bad_ethertype: return "not an AoE frame";
    case errc::bad_version: return "unsupported AoE version in frame";
    case errc::unknown_subcommand: return "unknown AoE subcommand";
    case errc::unknown_command: return "unknown AoE command";
    case errc::bad_config_length: return "bad config string length";
    case errc::bad_directive_count: return "MAC mask directives run past the frame";
    case errc::bad_mac_count: return "reserve list runs past the frame";
    case errc::bad_data_length: return "ATA data length does not match the request";
    case errc::bad_identify: return "IDENTIFY data is not from an ATA device";
    case errc::aoe_unrecognized_command: return "target: unrecognized command code (AoE error 1)";
    case errc::aoe_bad_argument: return "target: bad argument parameter (AoE error 2)";
    case errc::aoe_device_unavailable: return "target: device unavailable (AoE error 3)";
    case errc::aoe_config_string_present: return "target: config string present (AoE error 4)";
    case errc::aoe_unsupported_version: return "target: unsupported version (AoE error 5)";
    case errc::aoe_target_reserved: return "target is reserved by another initiator (AoE error 6)";
    case errc::aoe_unknown_error: return "target: unknown AoE error";
    case errc::ata_aborted: return "ATA command aborted by the target";
    case errc::ata_out_of_range: return "ATA address out of range";
    case errc::ata_media_error: return "ATA media error";
    case errc::target_down: return "target is down (no answer within the deadline)";
    case errc::not_aligned: return "request not aligned to 512-byte sectors";
    case errc::out_of_range: return "request beyond the end of the target";
    case errc::request_too_large: return "request too large";
    case errc::shutting_down: return "initiator is shutting down";
    case errc::no_path: return "no usable path to the target";
    case errc::timed_out: return "no answer from the target";
    case errc::interface_not_found: return "no such network interface";
    case errc::permission_denied: return "raw Ethernet sockets need root or CAP_NET_RAW";
    case errc::late_copies_pending:
      return "unanswered copies of earlier writes to these sectors hold all the memory kept for them";
    case errc::abandoned: return "given up: the initiator stopped before the target answered";
  }
  return nullptr;
}

// Each value also compares equal to a portable errno condition (initiator/errors.h).
class Category final : public base::EnumCategory<errc, describe> {
 public:
  Category() noexcept : EnumCategory("aoe") {}

  std::error_condition default_error_condition(int value) const noexcept override {
    return std::error_condition(to_errno(std::error_code(value, *this)), std::generic_category());
  }
};

}  // namespace

const std::error_category& aoe_category() noexcept {
  static const Category category;
  return category;
}

errc from_aoe_error(unsigned code) noexcept {
  switch (code) {
    case 1: return errc::aoe_unrecognized_command;
    case 2: return errc::aoe_bad_argument;
    case 3: return errc::aoe_device_unavailable;
    case 4: return errc::aoe_config_string_present;
    case 5: return errc::aoe_unsupported_version;
    case 6: return errc::aoe_target_reserved;
    default: return errc::aoe_unknown_error;
  }
}

errc from_ata_error(std::uint8_t error_register) noexcept {
  if (error_register & wire::ata::error_idnf) return errc::ata_out_of_range;
  if (error_register & wire::ata::error_abrt) return errc::ata_aborted;
  return errc::ata_media_error;
}

// Every ATA failure of a read or write is EIO to the block layer, as a
// local disk's media error is; the errc keeps the detail for the log.
int to_errno(std::error_code ec) noexcept {
  if (!ec) return 0;
  if (ec.category() != aoe_category()) {
    // generic/system categories already carry an errno
    return ec.category() == std::generic_category() || ec.category() == std::system_category()
               ? ec.value()
               : EIO;
  }
  switch (static_cast<errc>(ec.value())) {
    case errc::not_aligned: return EINVAL;
    case errc::out_of_range: return EINVAL;
    case errc::request_too_large: return EOVERFLOW;
    case errc::shutting_down: return ESHUTDOWN;
    case errc::aoe_target_reserved: return EACCES;
    case errc::aoe_config_string_present: return EEXIST;
    case errc::interface_not_found: return ENODEV;
    case errc::permission_denied: return EPERM;
    case errc::timed_out: return ETIMEDOUT;
    default: return EIO;
  }
}

}  // namespace aoe
