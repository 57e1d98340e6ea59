// exit_codes.h: the exit codes every tool and the daemon share (README
// "Exit codes"; each man page lists the ones it uses).  Header-only, so
// tools without network links (aoe-stat, aoe-detach) use the same numbers.
#pragma once

namespace aoe {

enum Exit : int {
  exit_ok = 0,
  exit_failed = 1,        // the operation failed
  exit_usage = 2,         // bad command line
  exit_no_interface = 3,  // a named interface does not exist, or none is usable
  exit_permission = 4,    // no CAP_NET_RAW (CAP_SYS_ADMIN for /dev/nbdN), or a root-only file
  exit_not_found = 5,     // the named target did not answer discovery, or is not attached
  exit_no_nbd = 6,        // the kernel has no nbd driver (aoe-attach without --socket)
  exit_claimed = 7,       // aoe-attach --claim: another host holds the target
};

}  // namespace aoe
