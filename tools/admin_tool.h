// admin_tool.h: the shape aoe-cfg, aoe-mask and aoe-reserve share: the
// common options, -t/--timeout and the target; then the links opened and
// one coroutine run over discovery::Control (discovery/admin.h); exceptions
// turned into a message and exit 1.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "discovery/admin.h"
#include "tools/common.h"

namespace aoe::tools {

// The target an admin tool works on, and how long its ports have to answer.
struct AdminTarget {
  std::string target;  // eS.L as given, then as the target spells it
  std::uint16_t shelf = 0;
  std::uint8_t slot = 0;
  std::chrono::milliseconds window{1000};
  std::vector<Link*> links;  // set by run_admin

  // "e1.2: no answer to Query Config on eth0 within 1.0 s (...)"
  std::string no_answer() const;
};

class AdminTool {
 public:
  // `target` is filled in by parse() and run(); it outlives the tool.
  AdminTool(std::string description, std::string name, AdminTarget& target);

  cli::App& app() noexcept { return app_; }

  // Adds the common options, -t/--timeout and the target as the first
  // positional argument: call before adding the tool's own positionals.
  void add_options();
  // Parses the command line and the target name; an exit code when the
  // tool should stop (already printed).
  std::optional<int> parse(int argc, char** argv);
  // Prints "TOOL: message" and returns code.
  int fail(int code, const std::string& message) const;
  // Opens the links, lets `prepare` look at them (may be empty), then runs
  // `body` to its exit code over a private Control.
  int run(std::function<discovery::Task<int>(discovery::Control&)> body,
          std::function<void(const std::vector<Link*>&)> prepare = {});

 private:
  cli::App app_;
  CommonOptions common_;
  AdminTarget& target_;
  double seconds_ = 1.0;
};

// main() of an admin tool: runs `run`, turning an exception into
// "TOOL: what" and exit_failed.
int guarded_main(const char* tool, const std::function<int()>& run);

}  // namespace aoe::tools
