// aoe_nbd_id: the udev helper of udev/60-aoe-nbd.rules.in.
//
//   aoe_nbd_id BACKEND        the backend identifier of an nbd device
//                             (/sys/block/nbdN/backend)
//   aoe_nbd_id --ublk NAME    a ublk device's kernel name (ublkb3, ublkb3p1),
//                             whose mark it asks the ublk driver for
//                             (GET_DEV_INFO; daemon/ublk_takeover.h)
//
// Prints the AoE target aoe-attach serves there ("e1.2") and exits 0, so
// udev makes /dev/etherd/e1.2; for anything else prints nothing and exits 1
// (the rule does not match).  Only names aoe-attach writes come through, so
// the link name is always a plain eS.L.
#include <charconv>
#include <cstdio>
#include <optional>
#include <string_view>

#include "daemon/backend_id.h"
#include "daemon/ublk_device.h"
#include "daemon/ublk_takeover.h"

namespace {

// "ublkb3" and "ublkb3p1" -> 3.
std::optional<std::uint32_t> ublk_number(std::string_view name) {
  if (!name.starts_with("ublkb")) return std::nullopt;
  name.remove_prefix(5);
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  if (ec != std::errc() || end == name.data()) return std::nullopt;
  const std::string_view rest(end, name.data() + name.size() - end);
  if (!rest.empty() && !(rest.size() > 1 && rest[0] == 'p' && rest.find_first_not_of("0123456789", 1) == rest.npos))
    return std::nullopt;
  return id;
}

int ublk(std::string_view name) {
  const auto id = ublk_number(name);
  if (!id) return 1;
  std::error_code ec;
  auto control = aoe::daemon::UblkControl::open(ec);
  if (!control) return 1;
  aoe::ublk::DevInfo info;
  if (control->info(*id, info)) return 1;
  const auto target = aoe::daemon::target_of_ublk_mark(info.ublksrv_flags);
  if (!target) return 1;
  std::printf("e%u.%u\n", unsigned{target->shelf}, unsigned{target->slot});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--ublk") return ublk(argv[2]);
  // udev splits the substituted attribute at spaces: more than one word is not ours.
  if (argc != 2) return 1;
  auto target = aoe::daemon::target_of_backend(argv[1]);
  if (!target) return 1;
  std::printf("%s\n", target->c_str());
  return 0;
}
