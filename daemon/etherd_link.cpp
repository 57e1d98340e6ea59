#include "daemon/etherd_link.h"

#include <unistd.h>

#include <string>

#include "base/error_category.h"
#include "initiator/wire.h"
#include "nbd-bridge/attach_types.h"
#include "nbd-bridge/kernel_attach.h"

namespace aoe::daemon {

namespace {

const char* describe(etherd_errc e) noexcept {
  switch (e) {
    case etherd_errc::not_a_target_name: return "not an AoE target name (want eSHELF.SLOT)";
    case etherd_errc::not_our_link: return "the /dev/etherd link points to another device";
  }
  return nullptr;
}

}  // namespace

const std::error_category& etherd_category() noexcept {
  static const base::EnumCategory<etherd_errc, describe> category("aoe-etherd-link");
  return category;
}

std::error_code create_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir) {
  return create_etherd_link_to(target, nbd::device_path_of(index), dir);
}

std::error_code create_etherd_link_to(std::string_view target, const std::filesystem::path& device,
                                      const std::filesystem::path& dir) {
  const auto name = wire::canonical_target(target);
  if (!name) return etherd_errc::not_a_target_name;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ec;
  const auto link = dir / *name;
  // Never replace a real node (the kernel aoe driver's own /dev/etherd/eS.L).
  const auto st = std::filesystem::symlink_status(link, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_symlink(st))
    return std::make_error_code(std::errc::file_exists);
  // A stale link is replaced atomically: new link beside it, then rename.
  const auto tmp = dir / ("." + *name + ".tmp" + std::to_string(::getpid()));
  std::filesystem::remove(tmp, ec);
  std::filesystem::create_symlink(device, tmp, ec);
  if (ec) return ec;
  std::filesystem::rename(tmp, link, ec);
  if (ec) std::filesystem::remove(tmp);
  return ec;
}

std::optional<std::uint32_t> resolve_etherd_link(std::string_view target, std::error_code& ec,
                                                 const std::filesystem::path& dir) {
  ec.clear();
  const auto name = wire::canonical_target(target);
  if (!name) {
    ec = etherd_errc::not_a_target_name;
    return std::nullopt;
  }
  auto points_to = std::filesystem::read_symlink(dir / *name, ec);
  if (ec) return std::nullopt;
  // udev's links are relative ("../nbd0"; udev/60-aoe-nbd.rules.in), ours absolute.
  if (points_to.is_relative() && points_to.parent_path() == "..") points_to = points_to.filename();
  const auto index = nbd::parse_device_path(points_to.string());
  if (!index) ec = etherd_errc::not_our_link;
  return index;
}

std::error_code remove_etherd_link(std::string_view target, std::uint32_t index,
                                   const std::filesystem::path& dir) {
  std::error_code ec;
  const auto current = resolve_etherd_link(target, ec, dir);
  if (ec == std::errc::no_such_file_or_directory) return {};
  if (ec) return ec;
  if (*current != index) return etherd_errc::not_our_link;
  std::filesystem::remove(dir / *wire::canonical_target(target), ec);
  return ec;
}

std::error_code remove_etherd_link_to(std::string_view target, const std::filesystem::path& device,
                                      const std::filesystem::path& dir) {
  const auto name = wire::canonical_target(target);
  if (!name) return etherd_errc::not_a_target_name;
  std::error_code ec;
  auto points_to = std::filesystem::read_symlink(dir / *name, ec);
  if (ec == std::errc::no_such_file_or_directory) return {};
  if (ec) return ec;
  if (points_to.is_relative()) points_to = "/dev" / points_to.filename();
  if (points_to != device) return etherd_errc::not_our_link;
  std::filesystem::remove(dir / *name, ec);
  return ec;
}

std::optional<std::uint32_t> resolve_device_name(std::string_view name, std::optional<std::string>& target,
                                                 std::error_code& ec, const std::filesystem::path& dir) {
  ec.clear();
  target.reset();
  if (auto index = nbd::parse_device_path(name)) return index;
  const auto canonical = wire::canonical_target(name);
  if (!canonical) {
    ec = etherd_errc::not_a_target_name;
    return std::nullopt;
  }
  auto index = resolve_etherd_link(*canonical, ec, dir);
  if (index) target = *canonical;
  return index;
}

}  // namespace aoe::daemon
