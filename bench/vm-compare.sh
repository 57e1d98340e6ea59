#!/bin/bash
# vm-compare.sh: runs inside scripts/run-in-vm (scripts/bench --vm starts it).
# After the shared VM harness example aoe-kernel.sh: vblade serves a file on
# a guest tmpfs as e1.2 from namespace "blade" over a veth pair; per MTU, in
# one boot and back to back (TCG speed drifts, so only side-by-side figures
# mean anything):
#   1. the kernel aoe driver (aoe_iflist) -> dd direct I/O on /dev/etherd/e1.2
#   2. raw-pump seq write/read over the same veth (the wire ceiling)
#   3. our aoe-attach e1.2 -> /dev/nbdN, the same dd
# Usage: vm-compare.sh [SIZE_MB (default 64)] [MTU... (default 1500 9000)]
# Env: BENCH_BUILD (the build dir holding tools/aoe-attach and bench/raw-pump).
set -euo pipefail

SIZE_MB=${1:-64}; shift || true
MTUS=${*:-1500 9000}
BUILD=${BENCH_BUILD:?set BENCH_BUILD}
ATTACH=$BUILD/tools/aoe-attach PUMP=$BUILD/bench/raw-pump
DEV=/dev/etherd/e1.2
TMP=$(mktemp -d /run/vm-compare.XXXXXX)   # guest RAM, never the 9p share
IMG=$TMP/backing.img
NS=blade IF=aoe0 PEER=aoe1
VBLADE_PID= ATTACH_PID=
export AOE_RUN_DIR=$TMP/run   # aoe-attach status socket

for t in vblade aoe-discover ip dd "$ATTACH" "$PUMP"; do
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

dd_rate() {  # dd ARGS...: dd's MB/s figure (decimal MB), bounded
  timeout 600 dd "$@" 2>&1 | awk '/copied/ { print $(NF-1) }'
}
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

declare -A R
for mtu in $MTUS; do
  echo "== MTU $mtu"
  stop_pid "$VBLADE_PID"; VBLADE_PID=
  rmmod aoe 2>/dev/null || true
  ip link set "$IF" mtu "$mtu"
  ip -n "$NS" link set "$PEER" mtu "$mtu"
  ip netns exec "$NS" vblade 1 2 "$PEER" "$IMG" >"$TMP/vblade.log" 2>&1 &
  VBLADE_PID=$!
  sleep 0.5

  # 1. the kernel's initiator
  modprobe aoe aoe_iflist="$IF"
  for _ in $(seq 100); do aoe-discover; [ -b "$DEV" ] && break; sleep 0.2; done
  if [ -b "$DEV" ]; then
    R[$mtu.kw]=$(dd_rate if=/dev/zero of="$DEV" bs=1M count="$SIZE_MB" oflag=direct)
    R[$mtu.kr]=$(dd_rate if="$DEV" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct)
  else
    echo "kernel aoe: $DEV did not appear"
  fi
  rmmod aoe 2>/dev/null || true   # our initiator runs alone

  # 2. the ceiling
  w=$(timeout 300 "$PUMP" -i "$IF" --op write --bytes "${SIZE_MB}M" --seconds 240 || true)
  r=$(timeout 300 "$PUMP" -i "$IF" --op read --bytes "${SIZE_MB}M" --seconds 240 || true)
  R[$mtu.pw]=$(kv "$w" MBps) R[$mtu.pr]=$(kv "$r" MBps)

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
    R[$mtu.ow]=$(dd_rate if=/dev/zero of="$nbd" bs=1M count="$SIZE_MB" oflag=direct)
    R[$mtu.or]=$(dd_rate if="$nbd" of=/dev/null bs=1M count="$SIZE_MB" iflag=direct)
    c1=$(awk '{ print $14 + $15 }' "/proc/$ATTACH_PID/stat")
    R[$mtu.ocpu]=$(awk "BEGIN { printf \"%.1f\", ($c1 - $c0) / $(getconf CLK_TCK) / (2 * $SIZE_MB / 1024) }")
    R[$mtu.orss]=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$ATTACH_PID/status")
  else
    echo "aoe-attach: no /dev/nbdN"; cat "$TMP/attach.err"
  fi
  stop_pid "$ATTACH_PID"; ATTACH_PID=
done

echo "== summary: ${SIZE_MB} MiB sequential dd bs=1M direct, vblade on veth, kernel $(uname -r), $(nproc) vCPUs"
printf '%-6s %-28s %-10s %-10s %s\n' MTU initiator "write MB/s" "read MB/s" "vs kernel (w/r)"
for mtu in $MTUS; do
  printf '%-6s %-28s %-10s %-10s\n' "$mtu" "raw pump (ceiling)" "${R[$mtu.pw]:--}" "${R[$mtu.pr]:--}"
  printf '%-6s %-28s %-10s %-10s\n' "$mtu" "kernel aoe /dev/etherd" "${R[$mtu.kw]:--}" "${R[$mtu.kr]:--}"
  # busybox awk: "or" is a function, and ">" in printf's arguments redirects
  vs=$(awk -v ow="${R[$mtu.ow]:-0}" -v kw="${R[$mtu.kw]:-0}" -v our_r="${R[$mtu.or]:-0}" -v kr="${R[$mtu.kr]:-0}" \
    'BEGIN { w = (kw > 0) ? sprintf("%.2f", ow / kw) : "-"; r = (kr > 0) ? sprintf("%.2f", our_r / kr) : "-"
             printf "%s/%s", w, r }')
  printf '%-6s %-28s %-10s %-10s %s\n' "$mtu" "aoe-attach /dev/nbdN" "${R[$mtu.ow]:--}" "${R[$mtu.or]:--}" "$vs"
  printf '%-6s %-28s %s\n' "$mtu" "  aoe-attach" "CPU ${R[$mtu.ocpu]:--} s/GiB, peak RSS ${R[$mtu.orss]:--} MiB"
done
