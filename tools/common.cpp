#include "tools/common.h"

#include <algorithm>

#include <fmt/format.h>

#include "aoe_version.h"
#include "discovery/interfaces.h"
#include "initiator/errors.h"
#include "initiator/log.h"
#include "initiator/wire.h"
#include "tools/usage.h"
#include "tools/validate.h"

namespace aoe::tools {

void add_common_options(CLI::App& app, CommonOptions& options) {
  app.add_option("-i,--interface", options.interfaces,
                 "Use only this network interface (repeatable, or a comma-separated list); "
                 "default: every Ethernet interface that is up")
      ->type_name("IFACE")
      ->check(validate::InterfaceList())  // "" and "," would mean every NIC
      ->allow_extra_args(false);  // one name per -i, so "-i eth1 e1.2" keeps the target
  app.add_flag("-v,--verbose", options.verbose, "Log more (repeat for debug output)");
  app.add_flag("-q,--quiet", options.quiet, "Log errors only");
  app.set_version_flag("--version", fmt::format("{} {}", app.get_name(), AOE_NBD_VERSION));
}

std::optional<int> parse(CLI::App& app, const CommonOptions& options, int argc, char** argv) {
  report_usage_errors(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }
  if (options.quiet)
    log::threshold = log::Level::error;
  else if (options.verbose > 0)
    log::threshold = options.verbose > 1 ? log::Level::debug : log::Level::info;
  return std::nullopt;
}

int fail(const CLI::App& app, int code, const std::string& message) {
  return fail(app.get_name(), code, message);
}

std::optional<int> parse_target_name(const CLI::App& app, std::string& name, std::uint16_t& shelf,
                                     std::uint8_t& slot) {
  if (auto why = validate::target_name(name)) return fail(app, exit_usage, *why);
  wire::parse_target(name, shelf, slot);
  name = wire::format_target(shelf, slot);
  return std::nullopt;
}

std::optional<int> open_links(boost::asio::io_context& io, const CLI::App& app,
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
    auto link = PacketLink::open(io, i.name, ec);
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
