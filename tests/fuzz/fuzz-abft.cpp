// fuzz-abft: any bytes as an ACPI table give a result, never a crash; what
// parses is an aBFT whose declared length fits the bytes read and sums to
// zero, and names a target, not a broadcast address (docs/aoe-protocol.md §2.3).
#include "discovery/abft.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto result = aoe::discovery::parse_abft(std::as_bytes(std::span(data, size)));
  check(result.target.has_value() == result.error.empty());
  if (!result.target) return 0;
  check(size >= aoe::discovery::abft_size && std::memcmp(data, "aBFT", 4) == 0);
  check(result.target->shelf != 0xffff && result.target->slot != 0xff);
  check(std::memcmp(result.target->initiator_mac.data(), data + 40, 6) == 0);
  return 0;
}
