#!/bin/bash
# vm-compare.sh: runs inside scripts/run-in-vm (scripts/bench --vm starts it,
# on a guest kernel with ublk_drv).  After the shared VM harness example
# aoe-kernel.sh: vblade serves a file on a guest tmpfs as e1.2 from
# namespace "blade" over a veth pair; per MTU, in one boot, VM_RUNS times
# and back to back within each run (TCG speed drifts, so only side-by-side
# figures mean anything), the same dd and fio rows on three devices:
#   1. the kernel aoe driver (aoe_iflist): /dev/etherd/e1.2
#   2. raw-pump seq write/read over the same veth (the wire ceiling)
#   3. our aoe-attach --kernel-device nbd e1.2: /dev/nbdN
#   4. our aoe-attach --kernel-device ublk e1.2: /dev/ublkbN
# Rows: dd bs=1M direct write and read; fio (libaio, direct, 4 KiB random)
# read and write at QD1 (mean latency) and at QD32 (IOPS).
# Prints per MTU the median ±half the min-max range (%) of the runs, the
# ratios of medians ublk/kernel aoe and ublk/nbd, and each goal with
# whether the medians meet it (ublk >= 1.0x the kernel aoe driver for dd
# and QD32, QD1 latency within +10 us of it, ublk >= 1.5x nbd at QD32).
# Usage: vm-compare.sh [SIZE_MB (default 64)] [MTU... (default 1500 9000)]
# Env: BENCH_BUILD (the build dir holding tools/aoe-attach, tools/aoe-detach
#      and bench/raw-pump), VM_RUNS (default 3), VM_RUNTIME (fio seconds,
#      default 5).
set -euo pipefail

SIZE_MB=${1:-64}; shift || true
MTUS=${*:-1500 9000}
BUILD=${BENCH_BUILD:?set BENCH_BUILD}
RUNS=${VM_RUNS:-3} RUNTIME=${VM_RUNTIME:-5}
ATTACH=$BUILD/tools/aoe-attach DETACH=$BUILD/tools/aoe-detach PUMP=$BUILD/bench/raw-pump
TARGET=e1.2 DEV=/dev/etherd/e1.2
TMP=$(mktemp -d /run/vm-compare.XXXXXX)   # guest RAM, never the 9p share
IMG=$TMP/backing.img
NS=blade IF=aoe0 PEER=aoe1
VBLADE_PID='' ATTACH_PID=''
export AOE_RUN_DIR=$TMP/run   # aoe-attach status socket

for t in vblade aoe-discover ip dd fio python3 "$ATTACH" "$DETACH" "$PUMP"; do
  command -v "$t" >/dev/null || { echo "vm-compare: missing $t"; exit 2; }
done
UBLK=1
modprobe ublk_drv 2>/dev/null || { UBLK=0; echo "vm-compare: kernel $(uname -r) has no ublk_drv: no ublk rows"; }

stop_pid() {  # stop_pid PID: TERM, bounded wait, KILL
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
detach_ours() {  # aoe-detach deletes the device (a signal alone leaves it for a restart to adopt)
  [ -n "$ATTACH_PID" ] || return 0
  timeout 60 "$DETACH" -t 20 "$TARGET" >/dev/null 2>&1 || echo "aoe-detach $TARGET failed"
  stop_pid "$ATTACH_PID"; ATTACH_PID=
}
cleanup() {
  detach_ours; stop_pid "$VBLADE_PID"
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
fio_4k() {  # fio_4k DEV RW QD: "IOPS mean-latency-us" of 4 KiB random RW, libaio, direct
  timeout $((RUNTIME + 60)) fio --name=vm --filename="$1" --rw="$2" --bs=4k --iodepth="$3" \
    --ioengine=libaio --direct=1 --size="${SIZE_MB}M" --runtime="$RUNTIME" --time_based \
    --randrepeat=0 --norandommap --output-format=json 2>/dev/null |
    python3 -c 'import json, sys
j = json.load(sys.stdin)["jobs"][0]; d = j["write"] if j["write"]["io_bytes"] > j["read"]["io_bytes"] else j["read"]
print(round(d["iops"]), round(d["lat_ns"]["mean"] / 1e3, 1))' 2>/dev/null || true
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
delta() { awk -v x="$(med "$1")" -v y="$(med "$2")" 'BEGIN { if (x != "" && y != "") printf "%+.1f us", x - y; else printf "-" }'; }
# meets VALUE OP BOUND: "met" or "missed" (nothing without a value)
meets() { awk -v v="${1% us}" -v b="$3" -v op="$2" 'BEGIN { if (v == "-" || v == "") exit
  ok = op == ">=" ? v + 0 >= b : v + 0 <= b; printf "%s", ok ? "met" : "missed" }'; }

measure() {  # measure KEY DEV [PID]: dd and fio rows of DEV as KEY.*; CPU and RSS of PID
  local k=$1 dev=$2 pid=${3:-} c0 c1 f
  [ -n "$pid" ] && c0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  add "$k.dw" "$(dd_rate if=/dev/zero of="$dev" bs=1M count="$SIZE_MB" oflag=direct)"
  add "$k.dr" "$(dd_rate if="$dev" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct)"
  if [ -n "$pid" ]; then
    c1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    add "$k.cpu" "$(awk "BEGIN { printf \"%.2f\", ($c1 - $c0) / $(getconf CLK_TCK) / (2 * $SIZE_MB / 1024) }")"
  fi
  for rw in randread randwrite; do
    read -r -a f <<<"$(fio_4k "$dev" "$rw" 1)"; add "$k.l1$rw" "${f[1]:-}"
    read -r -a f <<<"$(fio_4k "$dev" "$rw" 32)"; add "$k.q32$rw" "${f[0]:-}"
  done
  [ -n "$pid" ] && add "$k.rss" "$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")"
  return 0
}
ours() {  # ours KEY nbd|ublk: aoe-attach --kernel-device KIND, measured, detached
  local k=$1 kind=$2 dev=
  "$ATTACH" --foreground -q -i "$IF" --kernel-device "$kind" "$TARGET" >"$TMP/attach.out" 2>"$TMP/attach.err" &
  ATTACH_PID=$!
  for _ in $(seq 150); do
    dev=$(grep -Eo '/dev/(nbd|ublkb)[0-9]+' "$TMP/attach.out" 2>/dev/null | head -1 || true)
    [ -n "$dev" ] && break
    kill -0 "$ATTACH_PID" 2>/dev/null || break
    sleep 0.2
  done
  if [ -n "$dev" ] && [ -b "$dev" ]; then
    echo "aoe-attach --kernel-device $kind: $dev"
    measure "$k" "$dev" "$ATTACH_PID"
  else
    echo "aoe-attach --kernel-device $kind: no device"; cat "$TMP/attach.err"
  fi
  detach_ours
}

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
    echo "-- MTU $mtu run $run of $RUNS ($(date +%T))"
    # 1. the kernel's initiator
    modprobe aoe aoe_iflist="$IF"
    for _ in $(seq 100); do aoe-discover; [ -b "$DEV" ] && break; sleep 0.2; done
    if [ -b "$DEV" ]; then measure "$mtu.k" "$DEV"; else echo "kernel aoe: $DEV did not appear"; fi
    rmmod aoe 2>/dev/null || true   # our initiator runs alone

    # 2. the ceiling
    w=$(timeout 300 "$PUMP" -i "$IF" --op write --bytes "${SIZE_MB}M" --seconds 240 || true)
    r=$(timeout 300 "$PUMP" -i "$IF" --op read --bytes "${SIZE_MB}M" --seconds 240 || true)
    printf '%s\n' "$w" "$r"
    add "$mtu.pw" "$(kv "$w" MBps)"; add "$mtu.pr" "$(kv "$r" MBps)"

    # 3. and 4. ours, through the kernel's nbd driver, then through ublk
    ours "$mtu.n" nbd
    [ "$UBLK" = 1 ] && ours "$mtu.u" ublk
  done
done

echo "== summary: ${SIZE_MB} MiB dd bs=1M direct, fio 4 KiB random libaio direct ${RUNTIME}s at QD1 and QD32;"
echo "   vblade on veth, kernel $(uname -r), $(nproc) vCPUs; median ±spread of $RUNS runs, ratios of medians"
row() { printf '%-6s %-28s %-15s %-15s %-15s %-9s %-9s %s\n' "$@"; }
row MTU figure "ublk" "nbd" "kernel aoe" "ublk/aoe" "ublk/nbd" "goal (medians)"
for mtu in $MTUS; do
  u=$mtu.u n=$mtu.n k=$mtu.k
  for f in "dw dd seq write MB/s" "dr dd seq read MB/s"; do
    x=$(ratio "$u.${f%% *}" "$k.${f%% *}")
    row "$mtu" "${f#* }" "$(stat "$u.${f%% *}")" "$(stat "$n.${f%% *}")" "$(stat "$k.${f%% *}")" \
      "$x" "$(ratio "$u.${f%% *}" "$n.${f%% *}")" "ublk/aoe >= 1.0: $(meets "$x" '>=' 1)"
  done
  for rw in randread randwrite; do
    x=$(delta "$u.l1$rw" "$k.l1$rw")
    row "$mtu" "fio 4k $rw QD1 lat us" "$(stat "$u.l1$rw")" "$(stat "$n.l1$rw")" "$(stat "$k.l1$rw")" \
      "$x" "$(delta "$u.l1$rw" "$n.l1$rw")" "ublk-aoe <= +10 us: $(meets "$x" '<=' 10)"
  done
  for rw in randread randwrite; do
    x=$(ratio "$u.q32$rw" "$k.q32$rw") y=$(ratio "$u.q32$rw" "$n.q32$rw")
    row "$mtu" "fio 4k $rw QD32 IOPS" "$(stat "$u.q32$rw")" "$(stat "$n.q32$rw")" "$(stat "$k.q32$rw")" \
      "$x" "$y" "ublk/aoe >= 1.0: $(meets "$x" '>=' 1); ublk/nbd >= 1.5: $(meets "$y" '>=' 1.5)"
  done
  row "$mtu" "raw pump seq write / read" "$(stat "$mtu.pw") / $(stat "$mtu.pr") MB/s (the wire's ceiling)"
  row "$mtu" "aoe-attach CPU s/GiB (dd)" "$(stat "$u.cpu")" "$(stat "$n.cpu")" "" "" "" "write + read"
  row "$mtu" "aoe-attach peak RSS MiB" "$(stat "$u.rss")" "$(stat "$n.rss")" "" "" "" "<= 64"
done
