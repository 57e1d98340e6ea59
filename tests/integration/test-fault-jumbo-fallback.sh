#!/usr/bin/env bash
# test-fault-jumbo-fallback.sh AOE_ATTACH AOE_RELAY AOE_STAT [MAX_FRAME]
#
# Both ends at MTU 9000, but the relay between them drops every frame above
# MAX_FRAME bytes (default 1024: only one-sector frames pass; 1514 is a
# switch without jumbo frames).  Discovery's small frames pass, so
# aoe-attach starts with 8704-byte payloads; those are lost.  The path must
# lower its payload step by step to what fits, say so in the log, and carry
# 32 MiB written and read back byte-exactly with no client error.
set -euo pipefail
attach=$1 relay=$2 stat=$3 max_frame=${4:-1024}
# The largest payload that fits: 14 Ethernet + 10 AoE + 12 ATA header bytes.
fits=$(( (max_frame - 36) / 512 * 512 ))
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/fault-lab.sh"
lab_require vblade nbdcopy python3
lab_init "fjumbo$max_frame"
start=$(now_s)
fail() { echo "FAIL: $*"; sed 's/^/  attach: /' "$LAB_DIR/attach.log"; exit 1; }

fault_lab jumbo "$relay" 9000
fault_relay_start --max-frame "$max_frame"
image=$(lab_image disk.img 64M)
fault_vblade "$image"
fault_attach "$attach" "$LAB_DIR/disk.sock" --deadline 30
grep -q "8704 bytes per frame" "$LAB_DIR/attach.log" || fail "did not start with jumbo payloads"

fault_copy_check "$LAB_DIR/disk.sock" "$image" $((32 << 20)) || fail "transfer"
grep -q "frames are lost while small ones get through.*lowering its payload" "$LAB_DIR/attach.log" ||
  fail "no log line about lowering the payload"
payload=$("$stat" --json e1.2 | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["paths"][0]["payload_bytes"])')
[ "$payload" -le "$fits" ] || fail "path payload is $payload bytes, more than a $max_frame-byte hop carries"
[ "$payload" -gt 0 ] || fail "path payload is $payload bytes"
kill -0 "$FAULT_ATTACH_PID" || fail "aoe-attach died"
fault_relay_stop
[ "$(fault_relay_counter oversize)" -gt 0 ] || fail "the relay dropped no oversize frame: nothing was tested"
echo "PASS ($(awk -v a="$start" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s, payload $payload bytes)"
