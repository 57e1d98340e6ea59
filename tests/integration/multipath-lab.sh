# tests/integration/multipath-lab.sh: sourced after scripts/lab.sh by the
# tests that serve one target over several paths (test-multipath-slow-path.sh,
# test-write-order.sh).
#
#   multipath_lab NAME BUILD_DIR
#                            lab NAME (root, vblade and python3-libnbd
#                            required), host init's eth0 wired to blade's
#                            eth0, and $attach and $stat set to BUILD_DIR's
#                            tools; the test wires the second path
#   multipath_serving SOCKET STAT_BIN N
#                            wait until aoe-attach listens on SOCKET and
#                            aoe-stat shows N paths to e1.2; print why and
#                            return 1 if that takes over 10 s each
# shellcheck shell=bash

multipath_lab() {
  lab_require vblade python3:nbd
  lab_init "$1"
  attach=$2/tools/aoe-attach
  stat=$2/tools/aoe-stat
  lab_wire init eth0 blade eth0 1500
}

multipath_serving() {
  local sock=$1 stat=$2 n=$3 _
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "aoe-attach did not start"; return 1; }
  _paths() { "$stat" --json e1.2 | /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)[0]["paths"]))'; }
  for _ in $(seq 100); do [ "$(_paths)" = "$n" ] && return 0; sleep 0.1; done
  echo "aoe-attach did not find $n paths"
  return 1
}
