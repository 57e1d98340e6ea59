#!/usr/bin/env bash
# test-multipath-link-down.sh BUILD_DIR: two NICs to two target ports of one
# disk (two vblade processes on one file).  While nbdcopy writes 64 MiB, one
# NIC goes down, then comes back; the client sees no error, the data read
# back and the backing file are exact, and the path is used again afterwards.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
lab_init mpl
attach=$build/tools/aoe-attach

lab_wire init eth0 blade eth0 1500
lab_wire init eth1 blade eth1 1500
img=$(lab_image e1.2.img 80M)
lab_vblade blade eth0 1 2 "$img"
lab_vblade blade eth1 1 2 "$img"
sock=$LAB_DIR/e1.2.sock
lab_bg init "$attach" --foreground -v -i eth0,eth1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$LAB_DIR/attach.log"; echo "FAIL: aoe-attach did not start"; exit 1; }
uri="nbd+unix:///?socket=$sock"

head -c 64M /dev/urandom >"$LAB_DIR/data"
nbdcopy "$LAB_DIR/data" "$uri" &
copy=$!
sleep 0.5
lab_in init ip link set eth1 down
sleep 2
lab_in init ip link set eth1 up
wait "$copy" || { cat "$LAB_DIR/attach.log"; echo "FAIL: nbdcopy saw an error while a link went down"; exit 1; }
nbdcopy "$uri" "$LAB_DIR/back"
cmp "$LAB_DIR/data" <(head -c 64M "$LAB_DIR/back") || { echo "FAIL: read-back differs"; exit 1; }
cmp "$LAB_DIR/data" <(head -c 64M "$img") || { echo "FAIL: backing file differs"; exit 1; }
grep -q "eth1 is down" "$LAB_DIR/attach.log" || { cat "$LAB_DIR/attach.log"; echo "FAIL: link-down not noticed"; exit 1; }
# Restoring is asynchronous (a probe every 500 ms once the link is up): on a
# loaded host the read-back above may finish first.
for _ in $(seq 100); do grep -q "eth1 -> .* answers again" "$LAB_DIR/attach.log" && break; sleep 0.1; done
grep -q "eth1 -> .* answers again" "$LAB_DIR/attach.log" ||
  { cat "$LAB_DIR/attach.log"; echo "FAIL: path over eth1 not restored 10 s after the read-back"; exit 1; }
echo PASS
