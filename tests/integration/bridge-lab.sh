# bridge-lab.sh: sourced by tests/integration/test-admin-*.sh after
# scripts/lab.sh.  Two initiator hosts on one segment with the target host:
#
#   bridge_lab [TARGET_IF]   hosts "hosta" and "hostb" (eth0 each) wired to a
#                            bridge br0 in host "blade"; vblade serves there
#   host_mac HOST            echo eth0's MAC in HOST
#   expect_status WANT CMD...  run CMD, fail unless it exits WANT; its stdout
#                            and stderr are left in $out and $err
# shellcheck shell=bash

fail() { echo "FAIL: $*" >&2; exit 1; }

bridge_lab() {
  local blade
  blade=$(lab_nsname blade)
  lab_ns blade
  ip -n "$blade" link add br0 type bridge forward_delay 0 stp_state 0
  ip -n "$blade" link set br0 up
  for h in hosta hostb; do
    lab_wire "$h" eth0 blade "to-$h"
    ip -n "$blade" link set "to-$h" master br0
  done
}

host_mac() { ip -n "$(lab_nsname "$1")" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

expect_status() {
  local want=$1 got=0; shift
  "$@" >"$LAB_DIR/out" 2>"$LAB_DIR/err" || got=$?
  out=$(cat "$LAB_DIR/out") err=$(cat "$LAB_DIR/err")
  [ "$got" = "$want" ] || fail "exit $got, not $want: $* (stdout: $out; stderr: $err)"
}
