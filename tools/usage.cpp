#include "tools/usage.h"

#include <string>

#include <fmt/core.h>

#include "base/log.h"

namespace aoe::tools {

int fail(std::string_view tool, int code, std::string_view message) {
  log::error("{}: {}", tool, message);
  return code;
}

}  // namespace aoe::tools
