#include "daemon/backend_id.h"

#include "initiator/wire.h"

namespace aoe::daemon {

std::string backend_id(std::string_view target) { return std::string(backend_prefix) + std::string(target); }

std::optional<std::string> target_of_backend(std::string_view id) {
  if (!id.starts_with(backend_prefix)) return std::nullopt;
  const std::string_view name = id.substr(backend_prefix.size());
  // Only the one spelling we write: one device, one /dev/etherd name.
  auto canonical = wire::canonical_target(name);
  if (!canonical || *canonical != name) return std::nullopt;
  return canonical;
}

}  // namespace aoe::daemon
