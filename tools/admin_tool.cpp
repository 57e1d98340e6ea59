#include "tools/admin_tool.h"

#include <cmath>
#include <exception>

#include <boost/asio/io_context.hpp>
#include <fmt/core.h>

#include "tools/usage.h"
#include "tools/validate.h"

namespace aoe::tools {

std::string AdminTarget::no_answer() const {
  std::string names;
  for (const Link* l : links) names += (names.empty() ? "" : ",") + l->info().name;
  return fmt::format("{}: no answer to Query Config on {} within {:.1f} s (absent, or this host is not on its "
                     "MAC mask list)",
                     target, names, static_cast<double>(window.count()) / 1000);
}

AdminTool::AdminTool(std::string description, std::string name, AdminTarget& target)
    : app_(std::move(description), std::move(name)), target_(target) {}

void AdminTool::add_options() {
  add_common_options(app_, common_);
  app_.add_option("-t,--timeout", seconds_, "Seconds to wait for the target's ports to answer (default 1)")
      ->type_name("SECONDS")
      ->check(validate::Number(0.05, 60));
  app_.add_option("target", target_.target, "The target, as eSHELF.SLOT (e.g. e1.2)")->required()->type_name("eS.L");
}

std::optional<int> AdminTool::parse(int argc, char** argv) {
  if (auto code = tools::parse(app_, common_, argc, argv)) return code;
  if (auto code = parse_target_name(app_, target_.target, target_.shelf, target_.slot)) return code;
  target_.window = std::chrono::milliseconds(std::lround(seconds_ * 1000));
  return std::nullopt;
}

int AdminTool::fail(int code, const std::string& message) const { return tools::fail(app_, code, message); }

int AdminTool::run(std::function<discovery::Task<int>(discovery::Control&)> body,
                   std::function<void(const std::vector<Link*>&)> prepare) {
  boost::asio::io_context io;
  Links links;
  if (auto code = open_links(io, app_, common_, links)) return *code;
  target_.links = links.links;
  if (prepare) prepare(links.links);
  return discovery::run_control<int>(io, links.links, std::move(body));
}

int guarded_main(const char* tool, const std::function<int()>& run) {
  try {
    return run();
  } catch (const std::exception& e) {
    return tools::fail(tool, exit_failed, e.what());
  }
}

}  // namespace aoe::tools
