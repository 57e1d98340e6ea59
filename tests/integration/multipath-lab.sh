# tests/integration/multipath-lab.sh: sourced after scripts/lab.sh by the
# tests that serve one target over several paths (test-multipath-slow-path.sh,
# test-write-order.sh).
#
#   multipath_serving SOCKET STAT_BIN N
#                            wait until aoe-attach listens on SOCKET and
#                            aoe-stat shows N paths to e1.2; print why and
#                            return 1 if that takes over 10 s each
# shellcheck shell=bash

multipath_serving() {
  local sock=$1 stat=$2 n=$3 _
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "aoe-attach did not start"; return 1; }
  _paths() { "$stat" --json e1.2 | /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)[0]["paths"]))'; }
  for _ in $(seq 100); do [ "$(_paths)" = "$n" ] && return 0; sleep 0.1; done
  echo "aoe-attach did not find $n paths"
  return 1
}
