#!/bin/bash
# vm-compare.sh: runs inside scripts/run-in-vm (scripts/bench --vm starts it).
# After the shared VM harness example aoe-kernel.sh: vblade serves a file on
# a guest tmpfs as e1.2 from namespace "blade" over a veth pair; per MTU, in
# one boot, VM_RUNS times and back to back within each run (TCG speed
# drifts, so only side-by-side figures mean anything):
#   1. the kernel aoe driver (aoe_iflist) -> dd direct I/O and fio (libaio,
#      direct, 4 KiB random QD32) on /dev/etherd/e1.2
#   2. raw-pump seq write/read over the same veth (the wire ceiling)
#   3. our aoe-attach e1.2 -> /dev/nbdN, the same dd and fio
# Prints per MTU the median ±half the min-max range (%) of the runs, and
# ratios of medians.
# Usage: vm-compare.sh [SIZE_MB (default 64)] [MTU... (default 1500 9000)]
# Env: BENCH_BUILD (the build dir holding tools/aoe-attach and bench/raw-pump),
#      VM_RUNS (default 3), VM_RUNTIME (fio seconds, default 5).
set -euo pipefail

SIZE_MB=${1:-64}; shift || true
MTUS=${*:-1500 9000}
BUILD=${BENCH_BUILD:?set BENCH_BUILD}
RUNS=${VM_RUNS:-3} RUNTIME=${VM_RUNTIME:-5}
ATTACH=$BUILD/tools/aoe-attach PUMP=$BUILD/bench/raw-pump
DEV=/dev/etherd/e1.2
TMP=$(mktemp -d /run/vm-compare.XXXXXX)   # guest RAM, never the 9p share
IMG=$TMP/backing.img
NS=blade IF=aoe0 PEER=aoe1
VBLADE_PID='' ATTACH_PID=''
export AOE_RUN_DIR=$TMP/run   # aoe-attach status socket

for t in vblade aoe-discover ip dd fio python3 "$ATTACH" "$PUMP"; do
  command -v "$t" >/dev/null || { echo "vm-compare: missing $t"; exit 2; }
done

stop_pid() {  # stop_pid PID: TERM, bounded wait, KILL
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop_pid "$ATTACH_PID"; stop_pid "$VBLADE_PID"
  rmmod aoe 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  umount "$TMP" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$NS"
ip link add "$IF" type veth peer name "$PEER"
ip link set "$PEER" netns "$NS"
ip link set "$IF" up
ip -n "$NS" link set lo up
ip -n "$NS" link set "$PEER" up
mount -t tmpfs -o size=$((SIZE_MB + 16))m tmpfs "$TMP"
truncate -s "${SIZE_MB}M" "$IMG"

dd_rate() {  # dd ARGS...: dd's rate in MB/s (decimal), whichever unit dd chose
  timeout 600 dd "$@" 2>&1 | awk '/copied/ { v = $(NF-1); u = $NF
    if (u ~ /^GB/) v *= 1000; else if (u ~ /^kB/) v /= 1000; else if (u ~ /^B/) v /= 1000000
    printf "%.1f\n", v }'
}
fio_iops() {  # fio_iops DEV RW: IOPS of 4 KiB random RW at QD32, direct
  timeout $((RUNTIME + 60)) fio --name=vm --filename="$1" --rw="$2" --bs=4k --iodepth=32 \
    --ioengine=libaio --direct=1 --size="${SIZE_MB}M" --runtime="$RUNTIME" --time_based \
    --randrepeat=0 --norandommap --output-format=json 2>/dev/null |
    python3 -c 'import json, sys; j = json.load(sys.stdin)["jobs"][0]; print(round(j["read"]["iops"] + j["write"]["iops"]))' \
    2>/dev/null || true
}
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# samples: R[key] holds one value per run; busybox awk: no gawk functions,
# and no variable named like one ("or", "and")
declare -A R
add() { case $2 in ''|*[!0-9.]*) R[$1.fail]=$(( ${R[$1.fail]:-0} + 1 )) ;; *) R[$1]="${R[$1]:-} $2" ;; esac; }
med() { tr ' ' '\n' <<<"${R[$1]:-}" | sed '/^$/d' | sort -g |
  awk '{ a[NR] = $1 } END { if (NR) printf "%.6g", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
stat() {  # median ±half the min-max range in %
  tr ' ' '\n' <<<"${R[$1]:-}" | sed '/^$/d' | sort -g | awk -v nf="${R[$1.fail]:-0}" '
    { a[NR] = $1 }
    END { if (!NR) { print "fail"; exit }
          m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
          s = sprintf("%.1f", m); if (NR > 1 && m > 0) s = s sprintf(" ±%.0f%%", 50 * (a[NR] - a[1]) / m)
          if (nf > 0) s = s " (" nf " failed)"; print s }'; }
ratio() { awk -v x="$(med "$1")" -v y="$(med "$2")" 'BEGIN { if (x != "" && y > 0) printf "%.2f", x / y; else printf "-" }'; }

for mtu in $MTUS; do
  echo "== MTU $mtu"
  stop_pid "$VBLADE_PID"; VBLADE_PID=
  rmmod aoe 2>/dev/null || true
  ip link set "$IF" mtu "$mtu"
  ip -n "$NS" link set "$PEER" mtu "$mtu"
  ip netns exec "$NS" vblade 1 2 "$PEER" "$IMG" >"$TMP/vblade.log" 2>&1 &
  VBLADE_PID=$!
  sleep 0.5
  for run in $(seq "$RUNS"); do
    echo "-- MTU $mtu run $run of $RUNS"
    # 1. the kernel's initiator
    modprobe aoe aoe_iflist="$IF"
    for _ in $(seq 100); do aoe-discover; [ -b "$DEV" ] && break; sleep 0.2; done
    if [ -b "$DEV" ]; then
      add "$mtu.kw" "$(dd_rate if=/dev/zero of="$DEV" bs=1M count="$SIZE_MB" oflag=direct)"
      add "$mtu.kr" "$(dd_rate if="$DEV" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct)"
      add "$mtu.kfr" "$(fio_iops "$DEV" randread)"
      add "$mtu.kfw" "$(fio_iops "$DEV" randwrite)"
    else
      echo "kernel aoe: $DEV did not appear"
    fi
    rmmod aoe 2>/dev/null || true   # our initiator runs alone

    # 2. the ceiling
    w=$(timeout 300 "$PUMP" -i "$IF" --op write --bytes "${SIZE_MB}M" --seconds 240 || true)
    r=$(timeout 300 "$PUMP" -i "$IF" --op read --bytes "${SIZE_MB}M" --seconds 240 || true)
    printf '%s\n' "$w" "$r"
    add "$mtu.pw" "$(kv "$w" MBps)"; add "$mtu.pr" "$(kv "$r" MBps)"

    # 3. ours, through the kernel's nbd driver
    "$ATTACH" --foreground -q -i "$IF" e1.2 >"$TMP/attach.out" 2>"$TMP/attach.err" &
    ATTACH_PID=$!
    nbd=
    for _ in $(seq 150); do
      nbd=$(grep -o '/dev/nbd[0-9]*' "$TMP/attach.out" 2>/dev/null | head -1 || true)
      [ -n "$nbd" ] && break
      kill -0 "$ATTACH_PID" 2>/dev/null || break
      sleep 0.2
    done
    if [ -n "$nbd" ] && [ -b "$nbd" ]; then
      c0=$(awk '{ print $14 + $15 }' "/proc/$ATTACH_PID/stat")
      add "$mtu.ow" "$(dd_rate if=/dev/zero of="$nbd" bs=1M count="$SIZE_MB" oflag=direct)"
      add "$mtu.or" "$(dd_rate if="$nbd" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct)"
      c1=$(awk '{ print $14 + $15 }' "/proc/$ATTACH_PID/stat")
      add "$mtu.ocpu" "$(awk "BEGIN { printf \"%.2f\", ($c1 - $c0) / $(getconf CLK_TCK) / (2 * $SIZE_MB / 1024) }")"
      add "$mtu.ofr" "$(fio_iops "$nbd" randread)"
      add "$mtu.ofw" "$(fio_iops "$nbd" randwrite)"
      add "$mtu.orss" "$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$ATTACH_PID/status")"
    else
      echo "aoe-attach: no /dev/nbdN"; cat "$TMP/attach.err"
    fi
    stop_pid "$ATTACH_PID"; ATTACH_PID=
  done
done

echo "== summary: ${SIZE_MB} MiB dd bs=1M direct, fio 4 KiB random QD32 libaio direct ${RUNTIME}s;"
echo "   vblade on veth, kernel $(uname -r), $(nproc) vCPUs; median ±spread of $RUNS runs, ratios of medians"
row() { printf '%-6s %-34s %-16s %-16s %s\n' "$@"; }
row MTU figure "aoe-attach" "kernel aoe" "ratio"
for mtu in $MTUS; do
  row "$mtu" "dd seq write MB/s" "$(stat "$mtu.ow")" "$(stat "$mtu.kw")" "$(ratio "$mtu.ow" "$mtu.kw")"
  row "$mtu" "dd seq read MB/s" "$(stat "$mtu.or")" "$(stat "$mtu.kr")" "$(ratio "$mtu.or" "$mtu.kr")"
  row "$mtu" "fio 4k randwrite QD32 IOPS" "$(stat "$mtu.ofw")" "$(stat "$mtu.kfw")" "$(ratio "$mtu.ofw" "$mtu.kfw")"
  row "$mtu" "fio 4k randread QD32 IOPS" "$(stat "$mtu.ofr")" "$(stat "$mtu.kfr")" "$(ratio "$mtu.ofr" "$mtu.kfr")"
  row "$mtu" "raw pump seq write / read MB/s" "$(stat "$mtu.pw") / $(stat "$mtu.pr")" "(ceiling)" ""
  row "$mtu" "aoe-attach CPU s/GiB (dd w+r)" "$(stat "$mtu.ocpu")" "" ""
  row "$mtu" "aoe-attach peak RSS MiB" "$(stat "$mtu.orss")" "goal <= 64" ""
done
