// serving.h: what both ways of serving a target share (kernel_serving.h:
// /dev/nbdN; socket_serving.h: an NBD unix socket), and the options of a
// serving aoe-attach once its command line is parsed and checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>

#include "daemon/attached_target.h"
#include "daemon/etherd_link.h"
#include "daemon/kernel_device_choice.h"

namespace aoe::daemon {

// --reconnect-timeout of a root storage daemon unless given: the kernel
// holds the root's I/O for a successor as long as it takes (136 years;
// the kernel counts it in jiffies, which this times HZ still fits).
constexpr unsigned reconnect_forever = std::numeric_limits<unsigned>::max();

struct Options {
  AttachOptions attach;     // the target, discovery, engine and export
  std::string target;       // eS.L, spelt as the target reports it
  std::string socket_path;  // serve NBD here (absolute); empty: /dev/nbdN
  std::optional<std::uint32_t> device;  // --device /dev/nbdN or /dev/ublkbN; else the kernel picks
  KernelDeviceKind kernel_device = KernelDeviceKind::automatic;
  unsigned connections = 1;             // NBD sockets to the kernel
  double deadline_seconds = 60;         // as given; attach.engine.deadline holds it too
  // How long the kernel holds the device's I/O for the next aoe-attach once
  // we are gone (kernel_serving.h); 0: it fails the I/O at once.
  unsigned reconnect_timeout_seconds = 300;
  bool claim = false;
  bool force_claim = false;
  bool keep_claim = false;
  // Serves the root file system, from the initramfs on (aoe-attach(8), ROOT
  // STORAGE): never swapped, never OOM-killed, its buffers preallocated, and
  // a second aoe-attach of its target is told so and exits 0.
  bool root_storage = false;
  std::filesystem::path etherd_dir = daemon::etherd_dir;  // where /dev/etherd/eS.L goes (tests: elsewhere)

  bool kernel() const noexcept { return socket_path.empty(); }
};

// What aoe-stat shows as the device; set on the io thread once it is known.
// `ready` once the parent was told we serve: failures before that leave
// nothing of ours in use (so a claim is released).
struct Served {
  std::string device;
  bool ready = false;
  bool kept = false;  // left configured for the next aoe-attach, with its link and the claim
};

}  // namespace aoe::daemon
