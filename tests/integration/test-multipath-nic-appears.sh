#!/usr/bin/env bash
# test-multipath-nic-appears.sh BUILD_DIR: aoe-attach -i eth0,eth1 where
# eth1 does not exist yet (a NIC hot-plugged later, a VLAN or bond made
# after boot).  aoe-attach starts on eth0 alone, saying eth1 will join;
# when eth1 appears with a second target port behind it, rtnetlink's event
# makes aoe-attach open it and rediscover: the new path shows in aoe-stat,
# carries a share of the next transfer, and the data is exact.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
lab_require vblade nbdcopy python3
lab_init nicup
attach=$build/tools/aoe-attach stat=$build/tools/aoe-stat
fail() { sed 's/^/  attach: /' "$LAB_DIR/attach.log"; echo "FAIL: $*"; exit 1; }

lab_wire init eth0 blade eth0 1500
img=$(lab_image e1.2.img 64M)
lab_vblade blade eth0 1 2 "$img"
sock=$LAB_DIR/e1.2.sock
lab_bg init "$attach" --foreground -i eth0,eth1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "aoe-attach did not start with eth1 absent"
grep -q "eth1 does not exist (yet)" "$LAB_DIR/attach.log" || fail "no word about the absent eth1"

paths_on() {  # paths_on IFACE FIELD: that path's FIELD, or nothing
  "$stat" --json e1.2 | python3 -c '
import json, sys
for p in json.load(sys.stdin)[0]["paths"]:
    if p["interface"] == sys.argv[1]: print(p[sys.argv[2]])' "$1" "$2"
}
[ -z "$(paths_on eth1 frames_sent)" ] || fail "a path on eth1 before eth1 exists"

lab_wire init eth1 blade eth1 1500
lab_vblade blade eth1 1 2 "$img"
for _ in $(seq 100); do [ -n "$(paths_on eth1 frames_sent)" ] && break; sleep 0.1; done
[ -n "$(paths_on eth1 frames_sent)" ] || fail "eth1 appeared, but no path on it 10 s later"

head -c 32M /dev/urandom >"$LAB_DIR/data"
timeout 60 nbdcopy "$LAB_DIR/data" "nbd+unix:///?socket=$sock" || fail "write failed"
timeout 60 nbdcopy "nbd+unix:///?socket=$sock" "$LAB_DIR/back" || fail "read failed"
[ "$(paths_on eth1 frames_sent)" -gt 1000 ] || fail "eth1's path carried $(paths_on eth1 frames_sent) frames"
cmp -n 32M "$LAB_DIR/data" "$LAB_DIR/back" || fail "read-back differs"
cmp -n 32M "$LAB_DIR/data" "$img" || fail "backing file differs"
echo "PASS (eth1 carried $(paths_on eth1 frames_sent) frames)"
