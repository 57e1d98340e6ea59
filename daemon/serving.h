// serving.h: what both ways of serving a target share (kernel_serving.h:
// /dev/nbdN; socket_serving.h: an NBD unix socket), and the options of a
// serving aoe-attach once its command line is parsed and checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "daemon/attached_target.h"
#include "daemon/etherd_link.h"

namespace aoe::daemon {

struct Options {
  AttachOptions attach;     // the target, discovery, engine and export
  std::string target;       // eS.L, spelt as the target reports it
  std::string socket_path;  // serve NBD here (absolute); empty: /dev/nbdN
  std::optional<std::uint32_t> device;  // --device /dev/nbdN; else the kernel picks
  unsigned connections = 1;             // NBD sockets to the kernel
  double deadline_seconds = 60;         // as given; attach.engine.deadline holds it too
  bool claim = false;
  bool force_claim = false;
  bool keep_claim = false;
  std::filesystem::path etherd_dir = daemon::etherd_dir;  // where /dev/etherd/eS.L goes (tests: elsewhere)

  bool kernel() const noexcept { return socket_path.empty(); }
};

// What aoe-stat shows as the device; set on the io thread once it is known.
// `ready` once the parent was told we serve: failures before that leave
// nothing of ours in use (so a claim is released).
struct Served {
  std::string device;
  bool ready = false;
};

}  // namespace aoe::daemon
