#!/usr/bin/env bash
# test-admin-reserve.sh TOOLS_DIR: aoe-reserve against real vblade shared by
# two hosts on a bridge (docs/aoe-protocol.md §6).  hosta reserves the target; hostb's set and
# release are refused with AoE error 6, and its ATA reads through aoe-attach
# fail (aoe-attach logs "reserved") while hosta's succeed; release restores
# hostb; force overrides a reservation from either side.
set -euo pipefail
tools=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/bridge-lab.sh"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "SKIP: python3-libnbd missing"; exit 77; }
lab_require vblade python3:nbd
lab_init arsv

bridge_lab
img=$(lab_image disk.img 8M)
lab_vblade blade br0 1 2 "$img"
mac_a=$(host_mac hosta) mac_b=$(host_mac hostb)
res() { local host=$1; shift; lab_in "$host" "$tools/aoe-reserve" -t 0.3 "$@"; }

# Serve e1.2 from both hosts as NBD sockets (IDENTIFY passes a reservation,
# docs/aoe-protocol.md §6, so both attach whatever the list says).  Each "host" has its own
# run directory, as two machines would.
for h in hosta hostb; do
  lab_bg "$h" env AOE_RUN_DIR="$LAB_DIR/run-$h" "$tools/aoe-attach" --foreground -i eth0 -t 0.3 --socket "$LAB_DIR/$h.sock" e1.2 >/dev/null \
    2>"$LAB_DIR/attach-$h.log"
done
for h in hosta hostb; do
  for _ in $(seq 100); do [ -S "$LAB_DIR/$h.sock" ] && break; sleep 0.1; done
  [ -S "$LAB_DIR/$h.sock" ] || fail "aoe-attach on $h did not start: $(cat "$LAB_DIR/attach-$h.log")"
done
# read HOST: one 4 KiB read through HOST's aoe-attach; exit status is the outcome
read_from() {
  /usr/bin/python3 - "nbd+unix:///?socket=$LAB_DIR/$1.sock" <<'PY' 2>/dev/null
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pread(4096, 0)
PY
}

expect_status 0 res hosta e1.2
[ -z "$out" ] || fail "fresh reserve list: $out"
read_from hostb || fail "hostb cannot read an unreserved target"

expect_status 0 res hosta e1.2 set  # default: this host's MACs
expect_status 0 res hostb e1.2 list
[ "$out" = "$mac_a" ] || fail "reserve list: $out"

expect_status 1 res hostb e1.2 set "$mac_b"
[[ $err == *"is reserved for $mac_a, not for $mac_b (AoE error 6)"* ]] || fail "set by another: $err"
[[ $err == *"aoe-reserve e1.2 force MAC..."* ]] || fail "no override hint: $err"
expect_status 1 res hostb e1.2 release
[[ $err == *"AoE error 6"* ]] || fail "release by another: $err"

! read_from hostb || fail "hostb reads a target reserved for hosta"
grep -q "reserved" "$LAB_DIR/attach-hostb.log" || fail "aoe-attach on hostb does not say reserved: $(cat "$LAB_DIR/attach-hostb.log")"
read_from hosta || fail "hosta cannot read its own reservation"

expect_status 0 res hosta e1.2 release
expect_status 0 res hostb e1.2
[ -z "$out" ] || fail "after release: $out"
read_from hostb || fail "hostb cannot read after the release"

# force takes over from anyone; force with no MAC clears (the dead-owner override).
expect_status 0 res hostb e1.2 force "$mac_b"
! read_from hosta || fail "hosta reads after hostb forced the reservation"
expect_status 1 res hosta e1.2 set
expect_status 0 res hosta e1.2 force
expect_status 0 res hostb e1.2
[ -z "$out" ] || fail "after forced release: $out"
read_from hosta || fail "hosta cannot read after the forced release"

# A set that leaves out the sender warns that only force can undo it.
expect_status 0 res hosta e1.2 set "$mac_b"
[[ $err == *"only a force changes it"* ]] || fail "no warning: $err"
expect_status 0 res hosta e1.2 force

expect_status 2 res hosta e1.2 release "$mac_a"
expect_status 2 res hosta e1.2 set nonsense
expect_status 2 res hosta e1.2 grab
expect_status 5 res hosta e1.7
expect_status 0 "$tools/aoe-reserve" --help
echo PASS
