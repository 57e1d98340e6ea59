#!/usr/bin/env bash
# test-root.sh ASPECT TOOLS_DIR: aoe-attach --root-storage (aoe-attach(8),
# ROOT STORAGE) against vblade serving e1.2 in a namespace lab.  The kernel
# device is the VM's to test; here the daemon serves an NBD socket, which
# runs the same engine, discovery rounds, status socket and log.
#   files   under strace, from READY=1 until it exits after SIGTERM, the
#           daemon opens, stats or executes no file outside /proc, /sys,
#           /dev, /run, its run directory (AOE_RUN_DIR) and its NBD socket
#           (which stand in for /run here): it never needs
#           the root file system it may serve.  Meanwhile: writes and reads,
#           rediscovery rounds every second, aoe-stat, retransmissions logged.
#   stop    SIGSTOP for longer than --deadline while writes are in flight
#           (vblade paused meanwhile, so they are), then SIGCONT: the time
#           stopped is not the target's silence, so the writes complete
#           without error and the target is not marked down.
#   second  a second aoe-attach of the target while the root storage daemon
#           serves it says so, prints its socket, tells systemd READY=1 and
#           exits 0; beside an ordinary daemon, it is refused (exit 1).
#           aoe-stat shows root_storage.
set -euo pipefail
aspect=${1:?usage: $0 files|stop|second TOOLS_DIR}
tools=${2:?usage: $0 ASPECT TOOLS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
fail() { echo "FAIL: $*" >&2; [ -s "${LOG:-/dev/null}" ] && tail -n 20 "$LOG" >&2; [ -n "${KEEP:-}" ] && cp -r "$LAB_DIR" /tmp/rd-keep; exit 1; }
lab_require vblade nbdcopy nbdinfo jq strace python3

lab_init "root-$aspect"
lab_wire i ei0 t et0
img=$(lab_image e1.2.img 8M)
lab_vblade t et0 1 2 "$img"
sock=$LAB_DIR/e1.2.sock
uri="nbd+unix:///?socket=$sock"
LOG=$LAB_DIR/attach.log
attach=(-i ei0 -t 0.5 --foreground --root-storage --socket "$sock")

wait_for_socket() {
  for _ in $(seq 300); do nbdinfo --size "$uri" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "aoe-attach did not serve $sock"
}

# Writes 1 MiB of random data at offset 0 and reads it back.
write_and_check() {
  head -c 1M /dev/urandom >"$LAB_DIR/data"
  nbdcopy "$LAB_DIR/data" "$uri" || fail "$1: the write failed"
  nbdcopy "$uri" "$LAB_DIR/back" || fail "$1: the read failed"
  cmp -n 1048576 "$LAB_DIR/back" "$LAB_DIR/data" || fail "$1: read back differs"
}

case $aspect in
files)
  # LeakSanitizer cannot run under ptrace: the other tests check for leaks.
  lab_bg i env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -qq -s 4096 -e trace=%file,write -o "$LAB_DIR/strace.log" "$tools/aoe-attach" "${attach[@]}" --rediscover 1 e1.2 2>"$LOG"
  tracer=$LAB_LAST_PID
  wait_for_socket
  daemon=$(pgrep -P "$tracer" -x aoe-attach) || fail "no aoe-attach under strace $tracer"
  write_and_check files
  "$tools/aoe-stat" e1.2 >/dev/null || fail "aoe-stat e1.2 failed"
  # vblade gone for a moment: retransmissions and their log lines.
  lab_signal t STOP vblade
  nbdcopy "$uri" "$LAB_DIR/paused" &
  reader=$!
  sleep 1
  lab_signal t CONT vblade
  wait "$reader" || fail "a read across the vblade pause failed"
  sleep 2.5   # more rediscovery rounds
  write_and_check files-again
  kill -TERM "$daemon"
  rc=0; wait "$tracer" || rc=$?   # strace exits with its tracee's status
  [ "$rc" = 0 ] || fail "aoe-attach under strace exited $rc"
  # READY is the socket path written on stdout (the foreground report).
  ready=$(grep -n "write(1, \"$sock" "$LAB_DIR/strace.log" | head -n 1 | cut -d: -f1 || true)
  [ -n "$ready" ] || fail "no READY line in the strace log: $(tail -n 5 "$LAB_DIR/strace.log")"
  # A file syscall after READY whose path (first quoted argument) lies outside the allowed trees.
  bad=$(tail -n +"$ready" "$LAB_DIR/strace.log" | grep -v ' write(' |
    python3 -c '
import re, sys
allowed = ("/proc/", "/sys/", "/dev/", "/run/", sys.argv[1].rstrip("/") + "/", sys.argv[2])
for line in sys.stdin:
    m = re.search(r"\"([^\"]*)\"", line)
    if m and not m.group(1).startswith(allowed) and "+++" not in line and "---" not in line:
        print(line.rstrip())
' "$AOE_RUN_DIR" "$sock")
  [ -z "$bad" ] || fail "files touched after READY:"$'\n'"$bad"
  tail -n +"$ready" "$LAB_DIR/strace.log" | grep -v ' write(' | sed 's/^/  /' | sort -k2 | uniq -c -f1 | head -n 20
  echo "PASS: no file outside /proc /sys /dev /run after READY ($(tail -n +"$ready" "$LAB_DIR/strace.log" | grep -vc ' write(') file calls, all allowed)"
  ;;
stop)
  lab_bg i "$tools/aoe-attach" "${attach[@]}" --deadline 2 e1.2 2>"$LOG"
  daemon=$LAB_LAST_PID
  wait_for_socket
  write_and_check before
  head -c 4M /dev/urandom >"$LAB_DIR/big"
  # vblade paused first, so frames are in flight when the daemon stops.
  lab_signal t STOP vblade
  nbdcopy "$LAB_DIR/big" "$uri" &
  writer=$!
  sleep 0.5
  kill -STOP "$daemon"
  lab_signal t CONT vblade
  sleep 5   # more than twice --deadline
  kill -CONT "$daemon"
  wait "$writer" || fail "the write across SIGSTOP/SIGCONT failed"
  nbdcopy "$uri" "$LAB_DIR/back" || fail "the read after SIGCONT failed"
  cmp -n 4194304 "$LAB_DIR/back" "$LAB_DIR/big" || fail "read back after SIGCONT differs"
  # The path may have failed while vblade was paused (before the stop: a
  # real silence); restoring it takes two probe rounds.
  for _ in $(seq 100); do
    state=$("$tools/aoe-stat" --json e1.2 | jq -r '.[0].state')
    [ "$state" = up ] && break
    sleep 0.1
  done
  [ "$state" = up ] || fail "10 s after SIGCONT the target is $state, not up"
  grep -q 'marked down' "$LOG" && fail "the stop marked the target down"
  grep -q 'did not run for' "$LOG" || fail "the stall was not noticed"
  kill -TERM "$daemon"
  rc=0; wait "$daemon" || rc=$?
  [ "$rc" = 0 ] || fail "aoe-attach exited $rc"
  echo "PASS: 5 s stopped with a 2 s deadline: the writes completed, the target stayed up"
  ;;
second)
  for mode in root ordinary; do
    if [ "$mode" = root ]; then first=("${attach[@]}"); else first=(-i ei0 -t 0.5 --foreground --socket "$sock"); fi
    lab_bg i "$tools/aoe-attach" "${first[@]}" e1.2 2>"$LOG"
    daemon=$LAB_LAST_PID
    wait_for_socket
    [ "$("$tools/aoe-stat" --json e1.2 | jq -r '.[0].root_storage')" = "$([ $mode = root ] && echo true || echo false)" ] ||
      fail "$mode: aoe-stat --json does not show root_storage as expected"
    "$here/../support/notify-receiver.py" "$LAB_DIR/notify.sock" "$LAB_DIR/notify.log" READY -- true &
    receiver=$!
    for _ in $(seq 50); do [ -S "$LAB_DIR/notify.sock" ] && break; sleep 0.1; done
    rc=0
    out=$(lab_in i env NOTIFY_SOCKET="$LAB_DIR/notify.sock" "$tools/aoe-attach" -i ei0 -t 0.5 --foreground \
      --socket "$LAB_DIR/other.sock" e1.2 2>"$LAB_DIR/second.err") || rc=$?
    if [ "$mode" = root ]; then
      [ "$rc" = 0 ] || fail "beside the root storage daemon the second aoe-attach exited $rc: $(cat "$LAB_DIR/second.err")"
      [ "$out" = "$sock" ] || fail "it printed '$out', not the socket being served"
      grep -q 'served by the root storage daemon' "$LAB_DIR/second.err" || fail "it did not say why: $(cat "$LAB_DIR/second.err")"
      wait "$receiver" || fail "no READY=1 from the second aoe-attach: $(cat "$LAB_DIR/notify.log")"
    else
      [ "$rc" = 1 ] || fail "beside an ordinary daemon the second aoe-attach exited $rc, not 1"
      grep -q 'already served by another aoe-attach' "$LAB_DIR/second.err" || fail "no clear refusal: $(cat "$LAB_DIR/second.err")"
      kill "$receiver" 2>/dev/null || true; wait "$receiver" 2>/dev/null || true
    fi
    [ ! -e "$LAB_DIR/other.sock" ] || fail "$mode: the second aoe-attach listened on its socket"
    kill -0 "$daemon" || fail "$mode: the first daemon is gone"
    write_and_check "$mode: after the second aoe-attach"
    kill -TERM "$daemon"
    rc=0; wait "$daemon" || rc=$?
    [ "$rc" = 0 ] || fail "$mode: the first aoe-attach exited $rc"
    rm -f "$LAB_DIR/notify.sock" "$LAB_DIR/notify.log"
  done
  echo "PASS: beside a root storage daemon a second aoe-attach exits 0 after READY=1; beside another, 1"
  ;;
*) fail "unknown aspect $aspect" ;;
esac
