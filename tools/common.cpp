#include "tools/common.h"

#include <algorithm>

#include <fmt/format.h>

#include "aoe_version.h"
#include "discovery/interfaces.h"
#include "initiator/errors.h"
#include "base/log.h"
#include "initiator/wire.h"
#include "tools/usage.h"
#include "tools/validate.h"

namespace aoe::tools {

void add_common_options(cli::App& app, CommonOptions& options) {
  app.add_option("-i,--interface", options.interfaces,
                 "Use only this network interface (repeatable, or a comma-separated list); "
                 "default: every Ethernet interface that is up")
      ->type_name("IFACE")
      ->check(validate::InterfaceList())  // "" and "," would mean every NIC
      ->allow_extra_args(false);  // one name per -i, so "-i eth1 e1.2" keeps the target
  options.verbosity.add_to(app);
  app.set_version_flag("--version", fmt::format("{} {}", app.get_name(), AOE_NBD_VERSION));
}

std::optional<int> parse(cli::App& app, const CommonOptions& options, int argc, char** argv) {
  if (auto code = app.parse(argc, argv)) return code;
  options.verbosity.apply();
  return std::nullopt;
}

int fail(const cli::App& app, int code, const std::string& message) {
  return fail(app.get_name(), code, message);
}

std::optional<int> parse_target_name(const cli::App& app, std::string& name, std::uint16_t& shelf,
                                     std::uint8_t& slot) {
  if (auto why = validate::target_name(name)) return fail(app, exit_usage, *why);
  wire::parse_target(name, shelf, slot);
  name = wire::format_target(shelf, slot);
  return std::nullopt;
}

std::optional<int> open_links(boost::asio::io_context& io, const cli::App& app,
                              const CommonOptions& options, Links& out, std::vector<std::string>* absent) {
  std::error_code ec;
  auto all = discovery::list_interfaces(ec);
  if (ec) return fail(app, exit_failed, "cannot list network interfaces: " + ec.message());
  auto names = discovery::split_interface_names(options.interfaces);
  if (absent) {
    const auto exists = [&](const std::string& n) {
      return std::any_of(all.begin(), all.end(), [&](const discovery::Interface& i) { return i.name == n; });
    };
    for (const std::string& n : names)
      if (!exists(n)) absent->push_back(n);
    if (!names.empty() && absent->size() == names.size())
      return fail(app, exit_no_interface, fmt::format("none of the named interfaces exists: {}", fmt::join(names, ", ")));
    std::erase_if(names, [&](const std::string& n) { return !exists(n); });
    for (const std::string& n : *absent) log::warning("{} does not exist (yet): it joins when it appears", n);
  }
  discovery::Selection selection = discovery::select_interfaces(all, names);
  if (selection.error) return fail(app, exit_no_interface, selection.message);
  if (selection.interfaces.empty())
    return fail(app, exit_no_interface, "no Ethernet interface is up; name one with -i");

  for (const discovery::Interface& i : selection.interfaces) {
    if (!i.up) log::warning("{} is down", i.name);
    auto link = PacketLink::open(io, i.name, ec, options.link);
    if (!link) {
      int code = ec == errc::permission_denied     ? exit_permission
                 : ec == errc::interface_not_found ? exit_no_interface
                                                   : exit_failed;
      return fail(app, code, fmt::format("cannot open {}: {}", i.name, ec.message()));
    }
    out.links.push_back(link.get());
    out.owned.push_back(std::move(link));
  }
  return std::nullopt;
}

}  // namespace aoe::tools
