#!/usr/bin/env bash
# test-fault-target-restart.sh AOE_ATTACH AOE_RELAY
#
# vblade is killed (SIGKILL) while nbdcopy writes 64 MiB through aoe-attach
# and restarted about 2 s later, well inside --deadline 20: the write
# completes with no client error, and the read-back and the backing file
# equal the data written.  Writes vblade took but never answered are simply
# retransmitted to the new process (docs/aoe-protocol.md §8.10: re-executing a write is fine).
set -euo pipefail
attach=$1 relay=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/fault-lab.sh"
lab_require vblade nbdcopy
lab_init frestart
start=$(now_s)
size=$((64 << 20))

fault_lab restart "$relay"
# A little delay paces the write so the kill surely lands in the middle of it.
fault_relay_start --delay "${FAULT_DELAY_MS:-0.2}"
image=$(lab_image disk.img 64M)
fault_vblade "$image"
fault_attach "$attach" "$LAB_DIR/disk.sock" --deadline 20
uri="nbd+unix:///?socket=$LAB_DIR/disk.sock"

head -c "$size" /dev/urandom >"$LAB_DIR/src"
timeout 90 nbdcopy --flush "$LAB_DIR/src" "$uri" &
copy=$!
# Kill once an eighth has reached the disk (the image is sparse: count blocks).
for _ in $(seq 300); do
  [ $(($(stat -c %b "$image") * 512)) -ge $((size / 8)) ] && break
  sleep 0.05
done
kill -0 "$copy" 2>/dev/null || { echo "FAIL: the write finished before the kill (test too slow to catch it)"; exit 1; }
kill -KILL "$FAULT_VBLADE_PID"
killed=$(now_s)
written=$(($(stat -c %b "$image") * 512))
echo "vblade killed with $((written >> 20)) MiB of $((size >> 20)) on disk"
sleep 2
kill -0 "$copy" 2>/dev/null || { echo "FAIL: the write finished while the target was dead"; exit 1; }
fault_vblade "$image"
echo "vblade restarted after $(awk -v a="$killed" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s"
wait "$copy" || { echo "FAIL: nbdcopy failed across the target restart"; exit 1; }
echo "write done $(awk -v a="$killed" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s after the kill"

timeout 30 nbdcopy "$uri" "$LAB_DIR/back"
cmp "$LAB_DIR/src" "$LAB_DIR/back" || { echo "FAIL: read-back differs from the data written"; exit 1; }
cmp "$LAB_DIR/src" "$image" || { echo "FAIL: backing file differs from the data written"; exit 1; }
kill -0 "$FAULT_ATTACH_PID" || { echo "FAIL: aoe-attach died"; exit 1; }
fault_relay_stop
echo "PASS ($(awk -v a="$start" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s)"
