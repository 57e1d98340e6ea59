# tests/integration/fault-lab.sh: the fault-injection lab, sourced after
# scripts/lab.sh by tests/integration/test-fault-*.sh.
#
#   init (eth0) <-veth-> relay (r0 | aoe-relay | r1) <-veth-> blade (eth0)
#
#   fault_lab NAME RELAY_BIN [MTU]   build the topology (lab_init NAME first)
#   fault_relay_start [OPTIONS...]   run aoe-relay r0 r1 OPTIONS --stats (FAULT_RELAY_PID)
#   fault_relay_stop                 SIGTERM it, print its counters; fails on own drops
#   fault_vblade IMAGE               serve IMAGE as e1.2 on blade eth0 (FAULT_VBLADE_PID)
#   fault_attach ATTACH_BIN SOCKET [ARGS...]
#                                    aoe-attach --foreground -i eth0 --socket SOCKET ARGS e1.2
#                                    in init (FAULT_ATTACH_PID); retried while startup
#                                    discovery loses its frames on a lossy relay
#   fault_copy_check SOCKET IMAGE SIZE
#                                    write SIZE random bytes with nbdcopy, read them back,
#                                    compare both the read-back and the backing file
#   now_s                            seconds since the epoch, with fraction
# shellcheck shell=bash

fault_lab() {
  FAULT_RELAY_BIN=$2
  local mtu=${3:-1500}
  lab_wire init eth0 relay r0 "$mtu"
  lab_wire relay r1 blade eth0 "$mtu"
}

now_s() { date +%s.%N; }

fault_relay_start() {
  : >"$LAB_DIR/relay.log"
  lab_bg relay "$FAULT_RELAY_BIN" r0 r1 --stats "$@" 2>>"$LAB_DIR/relay.log"
  FAULT_RELAY_PID=$LAB_LAST_PID
  local _
  for _ in $(seq 50); do grep -q relaying "$LAB_DIR/relay.log" && return 0; sleep 0.1; done
  echo "FAIL: aoe-relay did not start"; cat "$LAB_DIR/relay.log"; return 1
}

fault_relay_stop() {
  kill -TERM "$FAULT_RELAY_PID" 2>/dev/null || true
  local _
  for _ in $(seq 50); do kill -0 "$FAULT_RELAY_PID" 2>/dev/null || break; sleep 0.1; done
  grep '^aoe-relay: .* received ' "$LAB_DIR/relay.log" || true
  # The relay's own drops would be faults nobody asked for.
  if grep -q '^aoe-relay: .* received ' "$LAB_DIR/relay.log" &&
     grep '^aoe-relay: .* received ' "$LAB_DIR/relay.log" |
       sed 's/.*own_drops//' | grep -qE '[a-z_]+ [1-9]'; then
    echo "FAIL: the relay dropped frames of its own"; return 1
  fi
}

# The counter NAME summed over both directions of the relay's final stats.
fault_relay_counter() {
  grep '^aoe-relay: .* received ' "$LAB_DIR/relay.log" |
    awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) s += $(i + 1)} END {print s + 0}'
}

fault_vblade() {
  lab_vblade blade eth0 1 2 "$1"
  FAULT_VBLADE_PID=$LAB_LAST_PID
}

fault_attach() {
  local bin=$1 sock=$2 attempt _
  shift 2
  for attempt in 1 2 3 4 5; do
    lab_bg init "$bin" --foreground -i eth0 --socket "$sock" "$@" e1.2 >>"$LAB_DIR/attach.log" 2>&1
    FAULT_ATTACH_PID=$LAB_LAST_PID
    for _ in $(seq 150); do
      [ -S "$sock" ] && return 0
      kill -0 "$FAULT_ATTACH_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$FAULT_ATTACH_PID" 2>/dev/null; then break; fi  # alive but no socket: a real failure
    echo "fault-lab: aoe-attach attempt $attempt exited before serving (lossy startup?), retrying"
  done
  echo "FAIL: aoe-attach did not start"; cat "$LAB_DIR/attach.log"; return 1
}

fault_copy_check() {
  local sock=$1 image=$2 size=$3 uri t0 t1 t2
  uri="nbd+unix:///?socket=$sock"
  head -c "$size" /dev/urandom >"$LAB_DIR/src"
  t0=$(now_s)
  # Bounded, so a hang fails here (and the lab is cleaned up) before ctest kills us.
  timeout "${FAULT_COPY_TIMEOUT:-60}" nbdcopy --flush "$LAB_DIR/src" "$uri" ||
    { echo "FAIL: the write failed or took over ${FAULT_COPY_TIMEOUT:-60} s"; return 1; }
  t1=$(now_s)
  timeout "${FAULT_COPY_TIMEOUT:-60}" nbdcopy "$uri" "$LAB_DIR/back" ||
    { echo "FAIL: the read failed or took over ${FAULT_COPY_TIMEOUT:-60} s"; return 1; }
  t2=$(now_s)
  echo "write $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s," \
       "read $(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.1f", b - a}') s"
  cmp -n "$size" "$LAB_DIR/src" "$LAB_DIR/back" || { echo "FAIL: read-back differs from the data written"; return 1; }
  cmp -n "$size" "$LAB_DIR/src" "$image" || { echo "FAIL: backing file differs from the data written"; return 1; }
  rm -f "$LAB_DIR/back"
}
