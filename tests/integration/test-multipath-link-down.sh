#!/usr/bin/env bash
# test-multipath-link-down.sh BUILD_DIR: two NICs to two target ports of one
# disk (two vblade processes on one file).  While nbdcopy writes 128 MiB,
# one NIC goes down (once aoe-stat shows it carrying frames), 40 MiB are
# written without it, then it comes back; the client sees no error, the
# path is restored and carries the read-back, and the read-back and the
# backing file are exact.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
lab_require vblade nbdcopy python3
lab_init mpl
attach=$build/tools/aoe-attach

lab_wire init eth0 blade eth0 1500
lab_wire init eth1 blade eth1 1500
img=$(lab_image e1.2.img 144M)
lab_vblade blade eth0 1 2 "$img"
# The vblade behind eth1 may exit as the link drops under it (a reply gets
# ENOBUFS): restarted, as in service, so the test stays about the initiator.
LAB_VBLADE_RESTART=1 lab_vblade blade eth1 1 2 "$img"
sock=$LAB_DIR/e1.2.sock
lab_bg init "$attach" --foreground -v -i eth0,eth1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$LAB_DIR/attach.log"; echo "FAIL: aoe-attach did not start"; exit 1; }
uri="nbd+unix:///?socket=$sock"

stat=$build/tools/aoe-stat
# Frames sent over eth1's path so far, from the live daemon.
eth1_sent() {
  "$stat" --json e1.2 | python3 -c '
import json, sys
print(sum(p["frames_sent"] for p in json.load(sys.stdin)[0]["paths"] if p["interface"] == "eth1"))'
}
fail() {
  sed 's/^/  attach: /' "$LAB_DIR/attach.log"
  for f in "$LAB_DIR"/vblade-*.log; do sed "s|^|  $(basename "$f" .log): |" "$f"; done
  echo "FAIL: $*"
  exit 1
}

size=128M
head -c $size /dev/urandom >"$LAB_DIR/data"
# nbdcopy reads a pipe we feed in parts, so the copy is mid-way when the
# link goes down, and goes on while it is down, however fast the rest runs.
mkfifo "$LAB_DIR/feed"
timeout 120 nbdcopy - "$uri" <"$LAB_DIR/feed" &
copy=$!
exec 7>"$LAB_DIR/feed"
feed() { dd if="$LAB_DIR/data" bs=1M skip="$1" count="$2" status=none >&7; }   # MiB offset, MiB
feed 0 48
for _ in $(seq 200); do [ "$(eth1_sent)" -gt 100 ] && break; sleep 0.05; done
[ "$(eth1_sent)" -gt 100 ] || fail "eth1 carried no frames before it went down"
lab_in init ip link set eth1 down
feed 48 40                 # written while eth1 is down
sleep 2
lab_in init ip link set eth1 up
feed 88 40
exec 7>&-
wait "$copy" || fail "nbdcopy saw an error (or hung) while a link went down"
grep -q "eth1 is down" "$LAB_DIR/attach.log" || fail "link-down not noticed"
# Restoring is asynchronous (a probe every 500 ms once the link is up).
for _ in $(seq 100); do grep -q "eth1 -> .* answers again" "$LAB_DIR/attach.log" && break; sleep 0.1; done
grep -q "eth1 -> .* answers again" "$LAB_DIR/attach.log" || fail "path over eth1 not restored within 10 s"
# Both paths carry the read-back: eth1 is used again.
before=$(eth1_sent)
timeout 120 nbdcopy "$uri" "$LAB_DIR/back" || fail "read-back failed"
[ $(( $(eth1_sent) - before )) -gt 1000 ] || fail "eth1 carried almost none of the read-back after its restoration"
cmp "$LAB_DIR/data" <(head -c $size "$LAB_DIR/back") || fail "read-back differs"
cmp "$LAB_DIR/data" <(head -c $size "$img") || fail "backing file differs"
echo PASS
