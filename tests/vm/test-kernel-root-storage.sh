#!/bin/bash
# test-kernel-root-storage.sh: runs inside the VM (tests/vm/run-vm-test).
# aoe-attach --root-storage in kernel mode, run from a copy in /run as the
# initramfs runs it, serving an ext4 with an fsync'ing writer:
#  1. the mark and the protections: argv[0] starts with '@', oom_score_adj
#     is -1000, /proc/PID/exe lies in /run;
#  2. under strace (attached once serving) for a resize-free stretch of
#     writes, aoe-stat, a SIGSTOP of 5 s (over --deadline 4) and SIGCONT: no
#     file outside /proc /sys /dev /run is touched, no write fails (4 s,
#     not 2: with 2, one run on a loaded host had the target marked down;
#     the engine now reads waiting answers before it judges, which covers
#     answers that reached the daemon, not a guest whose vblade itself was
#     starved of CPU for the whole deadline);
#  3. a second aoe-attach of the target (what its unit runs after the switch
#     to the root) prints the device and exits 0, and the daemon serves on;
#  4. SIGTERM leaves the device to a successor with no time limit; the copy
#     in /run started again with --root-storage adopts it; the writer saw no
#     error, every file is byte-exact.
# Needs $AOE_BUILD_DIR (the build tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
. "$here/guest-prepare.sh"
guest_prepare "$attach" "$detach" "$stat" jq vblade ip mkfs.ext4 sha256sum strace
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
. "$here/fsync-writer.sh"

target=e1.2
root_if=aoe-root0
copy=/run/aoe-root-test/aoe-attach
DAEMON_PID=
DEV=
WRITER=

fail() {
  echo "FAIL: $*"
  for f in "$LAB_DIR"/attach*.log "$LAB_DIR/writer.log" "$LAB_DIR/second.err"; do
    [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
  echo "--- dmesg"; dmesg | tail -n 20
  exit 1
}

cleanup() {
  local rc=$?
  [ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null || true
  umount -l "$LAB_DIR/mnt" 2>/dev/null || true
  [ -n "$DEV" ] && timeout 20 "$detach" --force -t 5 "$DEV" >/dev/null 2>&1 || true
  if [ -n "$DAEMON_PID" ]; then kill -9 "$DAEMON_PID" 2>/dev/null || true; fi
  ip link del "$root_if" 2>/dev/null || true
  rm -rf "${copy%/*}"
  lab_cleanup
  exit "$rc"
}

lab_init kroot
trap cleanup EXIT
mnt=$LAB_DIR/mnt
mkdir -p "$mnt" "${copy%/*}"
cp "$AOE_BUILD_DIR/tools/aoe-attach" "$copy"
lab_wire_root "$root_if" blade eth1
img=$(lab_image e1.2.img 64M)
lab_vblade blade eth1 1 2 "$img"

RUNS=0
start_attach() {   # LABEL: the copy, daemonized, prints $DEV
  local rc=0 out
  RUNS=$((RUNS + 1))
  LOG=$LAB_DIR/attach$RUNS.log
  out=$(timeout 90 "$copy" --root-storage -i "$root_if" -t 1 --deadline 4 "$target" 2>"$LOG") || rc=$?
  [ "$rc" = 0 ] || fail "$1: aoe-attach exited $rc"
  [[ $out =~ ^/dev/nbd[0-9]+$ ]] || fail "$1: aoe-attach printed '$out'"
  [ -z "$DEV" ] || [ "$out" = "$DEV" ] || fail "$1: $out, not the device it left, $DEV"
  DEV=$out
  DAEMON_PID=$("$stat" --json "$target" | jq -r '.[0].pid')
  [ "$("$stat" --json "$target" | jq -r '.[0].root_storage')" = true ] || fail "$1: aoe-stat does not say root_storage"
}


start_attach setup
# 1. the mark and the protections
[ "$(head -c 1 "/proc/$DAEMON_PID/cmdline")" = @ ] || fail "argv[0] is not marked: $(tr '\0' ' ' <"/proc/$DAEMON_PID/cmdline")"
[ "$(cat "/proc/$DAEMON_PID/oom_score_adj")" = -1000 ] || fail "oom_score_adj is $(cat "/proc/$DAEMON_PID/oom_score_adj")"
[ "$(readlink "/proc/$DAEMON_PID/exe")" = "$copy" ] || fail "exe is $(readlink "/proc/$DAEMON_PID/exe")"
echo "1: @-marked, oom_score_adj -1000, running from $copy"

mkfs.ext4 -q -F "$DEV"
mount "$DEV" "$mnt"
: >"$LAB_DIR/sums"
writer 128K &
WRITER=$!
progress setup

# 2. strace from now on, through a SIGSTOP longer than the deadline
ASAN_OPTIONS= strace -f -qq -s 4096 -e trace=%file -p "$DAEMON_PID" -o "$LAB_DIR/strace.log" &
TRACER=$!
sleep 2
progress traced
"$stat" "$target" >/dev/null || fail "aoe-stat failed"
kill -STOP "$DAEMON_PID"
sleep 5
kill -CONT "$DAEMON_PID"
progress after-sigcont
kill -INT "$TRACER"; wait "$TRACER" || true
bad=$(grep -E '"/' "$LAB_DIR/strace.log" | grep -vE '"/(proc|sys|dev|run)/' || true)
[ -z "$bad" ] || fail "files touched while serving:"$'\n'"$bad"
grep -q 'marked down' "$LOG" && fail "the SIGSTOP marked the target down"
echo "2: $(grep -c '"/' "$LAB_DIR/strace.log" || true) file calls while serving, all in /proc /sys /dev /run; SIGSTOP 5 s, no error"

# 3. the unit after the switch
rc=0
out=$("$AOE_BUILD_DIR/tools/aoe-attach" --foreground --exact-name -i "$root_if" "$target" 2>"$LAB_DIR/second.err") || rc=$?
[ "$rc" = 0 ] || fail "a second aoe-attach exited $rc"
[ "$out" = "$DEV" ] || fail "a second aoe-attach printed '$out', not $DEV"
kill -0 "$DAEMON_PID" || fail "the root storage daemon is gone"
progress second
echo "3: a second aoe-attach: '$(tail -n 1 "$LAB_DIR/second.err")', exit 0"

# 4. restart from the copy
old=$DAEMON_PID
kill -TERM "$old"
for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
kill -0 "$old" 2>/dev/null && fail "the daemon still runs 10 s after SIGTERM"
grep -q "leaving $DEV .* until one comes" "$LOG" || fail "SIGTERM did not leave $DEV without a limit: $(tail -n 3 "$LOG")"
start_attach restart
grep -q "adopted $DEV" "$LOG" || fail "the restarted copy did not adopt $DEV"
progress restart
touch "$LAB_DIR/stop"; wait "$WRITER"; WRITER=
[ ! -s "$LAB_DIR/writer.log" ] || fail "the writer saw errors: $(cat "$LAB_DIR/writer.log")"
(cd "$mnt" && sha256sum -c --quiet "$LAB_DIR/sums") || fail "a file differs"
umount "$mnt"
timeout 30 "$detach" "$DEV" || fail "aoe-detach $DEV failed"
echo "4: SIGTERM left $DEV to the copy started again, which adopted it; $(wc -l <"$LAB_DIR/sums") files intact"
DEV=
echo "PASS"
