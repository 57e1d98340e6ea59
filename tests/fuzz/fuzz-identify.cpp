// fuzz-identify: any bytes as an IDENTIFY block give a result, never a crash,
// and what parses respects the field sizes and the capacity rule (docs/aoe-protocol.md §3.6),
// within what the addressing mode reaches.
#include "initiator/identify.h"
#include "initiator/wire.h"

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool trimmed(const std::string& s, std::size_t max) {
  return s.size() <= max && (s.empty() || (s.back() != ' ' && s.back() != '\0'));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  aoe::Identity id;
  if (aoe::parse_identify(std::as_bytes(std::span(data, size)), id)) return 0;
  check(size >= aoe::identify_size);
  check(trimmed(id.serial, 20) && trimmed(id.firmware, 8) && trimmed(id.model, 40));
  check(id.sectors <= aoe::wire::max_sectors(id.lba48));  // never wraps on the wire
  check(id.claimed_sectors == 0 || id.claimed_sectors > id.sectors);
  check(!id.write_cache_enabled || id.write_cache_supported);
  return 0;
}
