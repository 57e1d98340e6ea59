#!/usr/bin/env bash
# test-lifecycle.sh ASPECT TOOLS_DIR: how aoe-attach starts and stops, against
# vblade serving e1.2 in a namespace lab.
#   notify         NOTIFY_SOCKET names a datagram socket of this test (as
#                  systemd's Type=notify does): STATUS= while searching,
#                  then READY=1, and at that very moment the export answers
#                  (nbdinfo, run by the receiver as READY=1 arrives); SIGTERM
#                  brings STOPPING=1 and exit 0.
#   interrupt      Ctrl-C (SIGINT) or SIGTERM to the parent waiting for its
#                  background child cancels the attach: the parent exits by
#                  that signal only once the child is gone, and nothing serves.
#   detach-socket  aoe-detach e1.2 stops a --socket attach (found through its
#                  status socket), with a fractional --timeout; again: exit 5.
#   stop-deadline-0  --deadline 0 (retry forever), vblade killed, a read
#                  pending: aoe-detach, SIGINT and a second SIGTERM each end
#                  aoe-attach within 5 s, and the reader gets EIO.
set -euo pipefail
aspect=${1:?usage: $0 notify|interrupt|detach-socket|stop-deadline-0 TOOLS_DIR}
tools=${2:?usage: $0 ASPECT TOOLS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
fail() { echo "FAIL: $*" >&2; [ -s "${LOG:-/dev/null}" ] && tail -n 20 "$LOG" >&2; exit 1; }
for t in vblade nbdinfo jq python3; do command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }; done

lab_init "life-$aspect"
lab_wire i ei0 t et0
img=$(lab_image e1.2.img 8M)
lab_vblade t et0 1 2 "$img"
sock=$LAB_DIR/e1.2.sock
LOG=$LAB_DIR/attach.log

# Running: exists and is not a zombie (an orphan waits for init to reap it).
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

no_daemon_left() {   # LABEL: nothing of ours runs or serves in namespace i
  local pids
  pids=$(ip netns pids "$(lab_nsname i)" 2>/dev/null || true)
  [ -z "$pids" ] || fail "$1: still running in the initiator namespace: $(ps -o pid,args -p "${pids//$'\n'/,}" || true)"
  [ ! -e "$sock" ] || fail "$1: $sock exists"
  [ -z "$(ls -A "$AOE_RUN_DIR" 2>/dev/null)" ] || fail "$1: status sockets left: $(ls "$AOE_RUN_DIR")"
}

case $aspect in
notify)
  # The receiver stands in for systemd: the moment READY=1 arrives, it asks
  # the export for its size.
  "$here/../support/notify-receiver.py" "$LAB_DIR/notify.sock" "$LAB_DIR/notify.log" STOPPING -- \
    nbdinfo --size "nbd+unix:///?socket=$sock" &
  receiver=$!
  for _ in $(seq 50); do [ -S "$LAB_DIR/notify.sock" ] && break; sleep 0.1; done
  lab_bg i env NOTIFY_SOCKET="$LAB_DIR/notify.sock" "$tools/aoe-attach" -i ei0 -t 0.5 --foreground \
    --socket "$sock" e1.2 2>"$LOG"
  attach=$LAB_LAST_PID
  for _ in $(seq 300); do grep -q '^at-ready ' "$LAB_DIR/notify.log" 2>/dev/null && break; sleep 0.1; done
  grep -q '^at-ready exit=0 output=8388608$' "$LAB_DIR/notify.log" ||
    fail "at READY=1 the export did not answer: $(cat "$LAB_DIR/notify.log")"
  kill -TERM "$attach"
  rc=0; wait "$attach" || rc=$?
  [ "$rc" = 0 ] || fail "aoe-attach exited $rc after SIGTERM"
  wait "$receiver" || fail "the receiver failed: $(cat "$LAB_DIR/notify.log")"
  mapfile -t lines <"$LAB_DIR/notify.log"
  printf '  %s\n' "${lines[@]}"
  [[ ${lines[0]} == "datagram STATUS="*e1.2* ]] || fail "the first datagram is not a STATUS= naming e1.2: ${lines[0]}"
  [[ ${lines[-3]} == "datagram READY=1|STATUS="*"$sock"* ]] || fail "READY=1 without a STATUS= naming the socket: ${lines[-3]}"
  [[ ${lines[-1]} == "datagram STOPPING=1"* ]] || fail "the last datagram is not STOPPING=1: ${lines[-1]}"
  ;;
interrupt)
  # e1.9 does not exist and discovery waits 3 s for it: the parent is
  # waiting when the signal comes.
  for sig in INT TERM; do
    # ip netns exec execs aoe-attach: $! is the parent aoe-attach.
    ip netns exec "$(lab_nsname i)" "$tools/aoe-attach" -i ei0 -t 3 --socket "$sock" e1.9 >"$LAB_DIR/out" 2>"$LOG" &
    parent=$!
    child=
    for _ in $(seq 100); do child=$(pgrep -P "$parent" || true); [ -n "$child" ] && break; sleep 0.05; done
    [ -n "$child" ] || fail "SIG$sig: no background child of aoe-attach ($parent) appeared"
    kill -"$sig" "$parent"
    rc=0; wait "$parent" || rc=$?
    want=$((128 + $(kill -l "$sig")))
    [ "$rc" = "$want" ] || fail "SIG$sig: the parent exited $rc, want $want (killed by SIG$sig): $(cat "$LOG")"
    ! running "$child" || fail "SIG$sig: the child $child still runs after the parent exited"
    [ ! -s "$LAB_DIR/out" ] || fail "SIG$sig: printed '$(cat "$LAB_DIR/out")'"
    no_daemon_left "SIG$sig"
    echo "SIG$sig to the waiting parent: exit $rc, child $child gone: $(grep -v '^<[67]>' "$LOG" | tr '\n' ' ')"
  done
  ;;
detach-socket)
  out=$(lab_in i "$tools/aoe-attach" -i ei0 -t 0.5 --socket "$sock" e1.2 2>"$LOG") || fail "aoe-attach: exit $?"
  [ "$out" = "$sock" ] || fail "aoe-attach printed '$out'"
  pid=$("$tools/aoe-stat" --json e1.2 | jq -r '.[0].pid')
  [ "$pid" -gt 0 ] || fail "aoe-stat does not list the attach"
  rc=0; err=$("$tools/aoe-detach" -t 7.5 e1.2 2>&1) || rc=$?
  [ "$rc" = 0 ] || fail "aoe-detach e1.2 of a socket attach: exit $rc: $err"
  ! running "$pid" || fail "aoe-detach returned while aoe-attach ($pid) still runs"
  no_daemon_left "after aoe-detach"
  rc=0; err=$("$tools/aoe-detach" -t 0.5 e1.2 2>&1) || rc=$?
  [ "$rc" = 5 ] && [[ $err == *"not attached"* ]] || fail "aoe-detach again: exit $rc, want 5: $err"
  echo "aoe-detach e1.2 stopped the socket attach (pid $pid); again: exit 5"
  ;;
stop-deadline-0)
  /usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "SKIP: python3-libnbd not installed"; exit 77; }
  blade=$LAB_LAST_PID  # the vblade started above
  for how in aoe-detach SIGINT SIGTERM-twice; do
    out=$(lab_in i "$tools/aoe-attach" -i ei0 -t 0.5 --deadline 0 --socket "$sock" e1.2 2>"$LOG") ||
      fail "$how: aoe-attach: exit $?"
    pid=$("$tools/aoe-stat" --json e1.2 | jq -r '.[0].pid')
    kill -KILL "$blade"
    /usr/bin/python3 - "nbd+unix:///?socket=$sock" >"$LAB_DIR/reader.out" 2>&1 <<'PY' &
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pread(4096, 0)
    print("read succeeded")
except nbd.Error as e:
    print(f"read failed: {e.errno}")  # the errno's name
PY
    reader=$!
    sleep 1  # the read is out, retried forever
    case $how in
    aoe-detach)
      t0=$(date +%s.%N)
      rc=0; err=$("$tools/aoe-detach" -t 10 e1.2 2>&1) || rc=$?
      [ "$rc" = 0 ] || fail "aoe-detach with a read pending: exit $rc: $err"
      ;;
    SIGINT) t0=$(date +%s.%N); kill -INT "$pid" ;;
    SIGTERM-twice)
      kill -TERM "$pid"  # drains: waits for the target, forever with --deadline 0
      sleep 1
      running "$pid" || fail "the first SIGTERM did not wait for the read in flight"
      t0=$(date +%s.%N); kill -TERM "$pid"
      ;;
    esac
    for _ in $(seq 100); do running "$pid" || break; sleep 0.05; done
    took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    ! running "$pid" || fail "$how: aoe-attach ($pid) still runs $took s later"
    awk -v t="$took" 'BEGIN {exit !(t < 5)}' || fail "$how: aoe-attach took $took s to exit"
    wait "$reader" || true
    grep -qx "read failed: EIO" "$LAB_DIR/reader.out" || fail "$how: the reader got: $(cat "$LAB_DIR/reader.out")"
    no_daemon_left "$how"
    echo "$how: aoe-attach --deadline 0 gone $took s later, the pending read failed with EIO"
    lab_vblade t et0 1 2 "$img"
    blade=$LAB_LAST_PID
  done
  ;;
*) fail "unknown aspect $aspect" ;;
esac
echo PASS
