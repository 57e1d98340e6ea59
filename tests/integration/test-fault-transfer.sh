#!/usr/bin/env bash
# test-fault-transfer.sh AOE_ATTACH AOE_RELAY NAME [MTU] -- RELAY_OPTIONS...
#
# 64 MiB written through aoe-attach's NBD socket with nbdcopy and read back,
# across aoe-relay injecting RELAY_OPTIONS (loss, duplication, reordering...)
# in both directions between the initiator and vblade.  No client error; the
# read-back and the backing file equal the data written byte for byte; the
# relay really injected faults and dropped nothing of its own.
set -euo pipefail
attach=$1 relay=$2 name=$3 mtu=1500
shift 3
if [ "${1:-}" != -- ]; then mtu=$1; shift; fi
[ "${1:-}" = -- ] && shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/fault-lab.sh"
lab_require vblade nbdcopy
lab_init "f$name"
start=$(now_s)

fault_lab "$name" "$relay" "$mtu"
fault_relay_start --seed "${FAULT_SEED:-1}" "$@"
image=$(lab_image disk.img 64M)
fault_vblade "$image"
fault_attach "$attach" "$LAB_DIR/disk.sock" --deadline 30

fault_copy_check "$LAB_DIR/disk.sock" "$image" $((64 << 20))
kill -0 "$FAULT_ATTACH_PID" || { echo "FAIL: aoe-attach died"; exit 1; }
fault_relay_stop
# Every kind of fault asked for really happened, or this tested nothing.
injected=0
for option in "$@"; do
  case $option in
    --loss*) counters=lost ;;
    --duplicate*) counters=duplicated ;;
    --reorder*) counters=reordered ;;
    --delay*) counters=delayed ;;
    --corrupt*) counters="truncated header_damaged" ;;
    *) continue ;;
  esac
  n=0
  for counter in $counters; do n=$((n + $(fault_relay_counter "$counter"))); done
  [ "$n" -gt 0 ] || { echo "FAIL: $option asked for, but the relay counted no $counters"; exit 1; }
  injected=$((injected + n))
done
[ "$injected" -gt 0 ] || { echo "FAIL: the relay injected no fault"; exit 1; }
echo "PASS ($(awk -v a="$start" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s, $injected faults injected)"
