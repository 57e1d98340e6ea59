// aoe_nbd_id BACKEND: the udev helper of udev/60-aoe-nbd.rules.in.  Given
// the backend identifier of an nbd device (/sys/block/nbdN/backend), prints
// the AoE target aoe-attach serves there ("e1.2") and exits 0, so udev makes
// /dev/etherd/e1.2; for any other identifier prints nothing and exits 1 (the
// rule does not match).  Only names aoe-attach writes come through, so the
// link name is always a plain eS.L.
#include <cstdio>

#include "daemon/backend_id.h"

int main(int argc, char** argv) {
  // udev splits the substituted attribute at spaces: more than one word is not ours.
  if (argc != 2) return 1;
  auto target = aoe::daemon::target_of_backend(argv[1]);
  if (!target) return 1;
  std::printf("%s\n", target->c_str());
  return 0;
}
