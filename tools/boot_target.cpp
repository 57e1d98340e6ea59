#include "tools/boot_target.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <fmt/core.h>

#include "daemon/exit_codes.h"
#include "discovery/abft.h"
#include "discovery/interfaces.h"
#include "base/log.h"
#include "tools/usage.h"

namespace aoe::tools {

int print_boot_target(const std::filesystem::path& table) {
  std::ifstream in(table, std::ios::binary);
  if (!in) {
    const int err = errno;
    if (err == ENOENT)
      return fail("aoe-discover", exit_not_found,
                  fmt::format("no aBFT at {}: the firmware did not boot from an AoE target (or does not say so)",
                              table.string()));
    return fail("aoe-discover", err == EACCES ? exit_permission : exit_failed,
                fmt::format("{}: {}", table.string(), std::strerror(err)));
  }
  std::vector<char> raw{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto parsed = discovery::parse_abft(std::as_bytes(std::span(raw)));
  if (!parsed.target)
    return fail("aoe-discover", exit_failed, fmt::format("{}: not a usable aBFT: {}", table.string(), parsed.error));
  const auto& t = *parsed.target;
  std::string interface = "-";
  std::error_code ec;
  for (const auto& i : discovery::list_interfaces(ec))
    if (i.mac == t.initiator_mac && i.ethernet) {
      interface = i.name;
      break;
    }
  if (ec) log::warning("cannot list the network interfaces: {}", ec.message());
  else if (interface == "-")
    log::warning("no local interface has the MAC {} the firmware booted over", wire::format_mac(t.initiator_mac));
  fmt::print("{} {} {}\n", wire::format_target(t.shelf, t.slot), wire::format_mac(t.initiator_mac), interface);
  return exit_ok;
}

}  // namespace aoe::tools
