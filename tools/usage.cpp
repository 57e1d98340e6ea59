#include "tools/usage.h"

#include <string>

#include <fmt/core.h>

#include "initiator/log.h"

namespace aoe::tools {

void report_usage_errors(CLI::App& app) {
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    std::string text = fmt::format("{}: {}\nRun with --help for more information.", failed->get_name(), e.what());
    std::string out;
    std::size_t start = 0;
    while (start <= text.size()) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      out += "<3>" + text.substr(start, end - start) + "\n";
      start = end + 1;
    }
    return out;
  });
}

int fail(std::string_view tool, int code, std::string_view message) {
  log::error("{}: {}", tool, message);
  return code;
}

}  // namespace aoe::tools
