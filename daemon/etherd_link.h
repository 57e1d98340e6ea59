// etherd_link.h: the stable names /dev/etherd/eS.L -> /dev/nbdN, like the
// kernel aoe driver's nodes, so scripts and fstab name the AoE target, not
// whichever nbd device it got.  The NBD layer knows nothing of AoE names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>

namespace aoe::daemon {

enum class etherd_errc {
  not_a_target_name = 1,  // not "eS.L"
  not_our_link,           // /dev/etherd/eS.L is not a link to the expected device
};

const std::error_category& etherd_category() noexcept;

inline std::error_code make_error_code(etherd_errc e) noexcept {
  return {static_cast<int>(e), etherd_category()};
}

inline const std::filesystem::path etherd_dir = "/dev/etherd";

// Creates the directory if needed and replaces whatever link was there.
std::error_code create_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir = etherd_dir);
// Removes the link only if it still points to /dev/nbd`index`; a missing
// link is not an error, another device's link is (etherd_errc::not_our_link).
std::error_code remove_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir = etherd_dir);
// The same for any block device (/dev/ublkbN).
std::error_code create_etherd_link_to(std::string_view target, const std::filesystem::path& device,
                                      const std::filesystem::path& dir = etherd_dir);
std::error_code remove_etherd_link_to(std::string_view target, const std::filesystem::path& device,
                                      const std::filesystem::path& dir = etherd_dir);
// The nbd index /dev/etherd/eS.L points to.
std::optional<std::uint32_t> resolve_etherd_link(std::string_view target, std::error_code& ec,
                                                 const std::filesystem::path& dir = etherd_dir);

// What a user may name an attached target by: /dev/nbdN or nbdN directly,
// eS.L (any spelling wire::parse_target takes) through its /dev/etherd link.
// `target` is set to the canonical eS.L when the name was one.  Errors:
// etherd_errc::not_a_target_name for neither, the link's errors otherwise
// (errc::no_such_file_or_directory: not attached).
std::optional<std::uint32_t> resolve_device_name(std::string_view name, std::optional<std::string>& target,
                                                 std::error_code& ec,
                                                 const std::filesystem::path& dir = etherd_dir);

}  // namespace aoe::daemon

template <>
struct std::is_error_code_enum<aoe::daemon::etherd_errc> : std::true_type {};
