#!/bin/bash
# test-kernel-restart.sh: runs inside the VM (tests/vm/run-vm-test).
# aoe-attach dies or restarts under a mounted file system and the next
# aoe-attach adopts its /dev/nbdN (NBD_CMD_RECONFIGURE, docs/nbd-protocol.md
# §5.3, §5.5): vblade serves e1.2 from namespace "blade"; ext4 on the
# device, a writer doing fsync'ed writes throughout, a reader doing
# O_DIRECT reads of the device throughout (so a request is in flight when
# aoe-attach goes), and one O_DIRECT read issued while no aoe-attach runs
# (so the kernel certainly holds a request):
#  A. SIGKILL, then aoe-attach again: the same device, the held read done;
#  B. SIGTERM, then at once aoe-attach again (systemctl restart): the device
#     and its /dev/etherd link stay for the successor, which adopts it, and
#     the writer stands still at most 5 s longer than the successor takes
#     to start (on a loaded host under TCG that start alone takes 20-40 s):
#     the old aoe-attach handed over at a quiet moment, so nothing waited
#     for the kernel's request timeout (120 s, --deadline 60 for this one,
#     longer than any start here, so that a request left waiting shows),
#     unless it logged the one case it cannot avoid ("replies undelivered",
#     docs/nbd-protocol.md §5.5), which the test then reports;
#  C. SIGKILL, the target unreachable meanwhile (vblade SIGSTOPped): aoe-attach
#     fails to find it (exit 5) and leaves the device alone; once vblade
#     answers again, the next one adopts it;
#     then: the writer saw no error, no I/O error in the kernel log, every
#     file byte-exact, fsck clean;
#  D. aoe-detach while the kernel holds I/O for a successor: the held read
#     fails at once, the device is free, nothing is left;
#  E. nothing adopts: held I/O fails with EIO once --reconnect-timeout
#     passed (not before, not much after); aoe-stat shows the device
#     "orphaned", aoe-detach detaches it.
# Prints the longest I/O stall across each restart, and
# "requests held across a daemon restart: N, errors: 0".
# Needs $AOE_BUILD_DIR (the build tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
. "$here/guest-prepare.sh"
guest_prepare "$attach" "$detach" "$stat" jq vblade ip mkfs.ext4 e2fsck sha256sum
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
. "$here/fsync-writer.sh"

target=e1.2
root_if=aoe-root0
# --reconnect-timeout: room for a slow start of aoe-attach (a sanitizer
# build in a VM on a busy host takes up to 20 s), short where it expires
reconnect=120
expiry=15
deadline=2               # the kernel's request timeout is then 2 + 30 s
planned_stall_max=5      # seconds the writer may stand still beyond the successor's start (SIGTERM)
DAEMON_PID=
DEV=
WRITER=
READER=
HELD_TOTAL=0

fail() {
  echo "FAIL: $*"
  guest_report test-kernel-restart "$LAB_DIR"/attach*.log "$LAB_DIR/writer.log" "$LAB_DIR/reader.log"
  exit 1
}

cleanup() {
  local rc=$?
  [ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null || true
  [ -n "$READER" ] && kill "$READER" 2>/dev/null || true
  umount -l "$LAB_DIR/mnt" 2>/dev/null || true
  if [ -n "$DAEMON_PID" ]; then kill -9 "$DAEMON_PID" 2>/dev/null || true; fi
  [ -n "$DEV" ] && timeout 20 "$detach" --force -t 5 "$DEV" >/dev/null 2>&1 || true
  ip link del "$root_if" 2>/dev/null || true
  lab_cleanup
  exit "$rc"
}

lab_init krestart
trap cleanup EXIT
mnt=$LAB_DIR/mnt
mkdir -p "$mnt"
lab_wire_root "$root_if" blade eth1
img=$(lab_image e1.2.img 64M)
lab_vblade blade eth1 1 2 "$img"
VBLADE=$LAB_LAST_PID
dmesg -C

# start_attach LABEL [RECONNECT]: aoe-attach (daemonized) prints $DEV (or sets it)
RUNS=0
start_attach() {
  local rc=0 out
  mark "$1: starting aoe-attach"
  RUNS=$((RUNS + 1))
  LOG=$LAB_DIR/attach$RUNS.log
  out=$(timeout 90 "$attach" -i "$root_if" -t 1 --deadline "$deadline" --reconnect-timeout "${2:-$reconnect}" \
    "$target" 2>"$LOG") || rc=$?
  [ "$rc" = 0 ] || fail "$1: aoe-attach $target exited with $rc: $(cat "$LOG")"
  [[ $out =~ ^/dev/nbd[0-9]+$ ]] || fail "$1: aoe-attach printed '$out', want /dev/nbdN"
  [ -z "$DEV" ] || [ "$out" = "$DEV" ] || fail "$1: aoe-attach gave $out, not the device it left, $DEV"
  DEV=$out
  DAEMON_PID=$("$stat" --json "$target" | jq -r '.[0].pid')
  [ "$(cat "/proc/$DAEMON_PID/comm" 2>/dev/null)" = aoe-attach ] || fail "$1: aoe-stat names pid '$DAEMON_PID'"
  [ "$(readlink "/dev/etherd/$target")" = "$DEV" ] || fail "$1: /dev/etherd/$target does not point to $DEV"
  SERVED=$(now)
  mark "$1: aoe-attach serves $DEV"
}

mark() { echo "test-kernel-restart: $*" >/dev/kmsg; }   # the kernel log's clock, for reading failures

# held_read: an O_DIRECT read of the device in the background; the kernel
# holds it while no aoe-attach serves the device
held_read() {
  dd if="$DEV" of=/dev/null bs=4k count=1 skip=$((RANDOM % 4096)) iflag=direct status=none \
    2>"$LAB_DIR/held.err" &
  HELD=$!
  sleep 1
  kill -0 "$HELD" 2>/dev/null || fail "$1: a read while no aoe-attach serves $DEV did not wait: $(cat "$LAB_DIR/held.err")"
}

wait_gone() {   # LABEL PID
  mark "$1: waiting for aoe-attach $2 to exit"
  for _ in $(seq 100); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.1; done
  fail "$1: aoe-attach (pid $2) still runs 10 s after the signal"
}


# reader: O_DIRECT reads of $DEV until $LAB_DIR/stop appears, their times
# to $LAB_DIR/reads, errors to $LAB_DIR/reader.log
reader() {
  while [ ! -e "$LAB_DIR/stop" ]; do
    if dd if="$DEV" of=/dev/null bs=4k count=1 skip=$((RANDOM % 4096)) iflag=direct status=none \
         2>>"$LAB_DIR/reader.log"; then now >>"$LAB_DIR/reads"
    else echo "ERROR: read" >>"$LAB_DIR/reader.log"; fi
  done
}

# restarted LABEL T0 [PID]: the new aoe-attach adopted $DEV, the held read
# (PID) completes, the writer goes on; prints the longest stall since T0
# (the signal) of the writer and of the reader, and how much of the
# writer's lies beyond the time from T0 until the successor served (set by
# start_attach as SERVED): sets BEYOND
restarted() {
  local label=$1 t0=$2 held=${3:-} n t1 stall rstall start
  grep -q "adopted $DEV" "$LOG" || fail "$label: the new aoe-attach did not adopt $DEV: $(cat "$LOG")"
  # the held read, and whatever was in flight when the connection died
  n=$(grep -o '([0-9]* requests were in flight' "$LOG" | tr -dc 0-9)
  if [ -n "$held" ]; then
    wait "$held" || fail "$label: the read held across the restart failed: $(cat "$LAB_DIR/held.err")"
    n=$((n + 1))
  fi
  HELD_TOTAL=$((HELD_TOTAL + n))
  progress "$label" 150   # a request left waiting is resent after 120 s
  t1=$(now)
  stall=$(stall "$LAB_DIR/times" "$t0" "$t1")
  rstall=$(stall "$LAB_DIR/reads" "$t0" "$t1")
  start=$(awk -v a="$t0" -v b="$SERVED" 'BEGIN { printf "%.1f", b - a }')
  BEYOND=$(awk -v s="$stall" -v t="$start" 'BEGIN { printf "%.1f", s - t }')
  echo "$label: the same $DEV adopted, $n held requests completed, the writer goes on;" \
    "longest I/O stall across the restart: $stall s (fsync writer), $rstall s (O_DIRECT reader);" \
    "the successor served $start s after the signal; the writer's stall beyond that: $BEYOND s"
}

start_attach setup
mkfs.ext4 -q -F "$DEV"
mount "$DEV" "$mnt"
: >"$LAB_DIR/sums"
writer 192K &
WRITER=$!
reader &
READER=$!
progress setup
echo "setup: ext4 on $DEV, an fsync'ing writer and an O_DIRECT reader running"

# --- A. SIGKILL under the writer, then aoe-attach again
label=A-sigkill
t0=$(now)
kill -9 "$DAEMON_PID"
wait_gone "$label" "$DAEMON_PID"
[ -e "/sys/block/${DEV#/dev/}/pid" ] || fail "$label: $DEV lost its configuration when aoe-attach died"
held_read "$label"
deadline=60 start_attach "$label"   # the daemon B stops: a request timeout of 120 s
restarted "$label" "$t0" "$HELD"

# --- B. SIGTERM, the systemctl restart path: the successor starts at once
label=B-sigterm
t0=$(now)
kill -TERM "$DAEMON_PID"
wait_gone "$label" "$DAEMON_PID"
grep -q "leaving $DEV" "$LOG" || fail "$label: aoe-attach did not leave $DEV to a successor: $(tail -n 3 "$LOG")"
[ "$(readlink "/dev/etherd/$target")" = "$DEV" ] || fail "$label: SIGTERM removed /dev/etherd/$target"
left_log=$LOG
start_attach "$label"
restarted "$label" "$t0"
if ! awk -v s="$BEYOND" -v m="$planned_stall_max" 'BEGIN { exit !(s <= m) }'; then
  undelivered=$(grep -o '[0-9]* replies undelivered' "$left_log") ||
    fail "$label: across a planned restart the writer stood still $BEYOND s longer than the successor took to start (at most $planned_stall_max s)"
  echo "$label: the writer stood still $BEYOND s beyond the successor's start: the old aoe-attach logged" \
    "'$undelivered' (a request sent as it shut its connection, answered too late), resent after its timeout"
fi

# --- C. SIGKILL, target unreachable while no aoe-attach runs
label=C-unreachable
t0=$(now)
kill -9 "$DAEMON_PID"
wait_gone "$label" "$DAEMON_PID"
kill -STOP "$VBLADE"   # no restart: a new vblade's mount namespace would pin the ext4 mount
held_read "$label"
rc=0; timeout 60 "$attach" -i "$root_if" -t 1 --reconnect-timeout "$reconnect" "$target" \
  >/dev/null 2>"$LAB_DIR/unreachable.log" || rc=$?
[ "$rc" = 5 ] || fail "$label: aoe-attach with the target unreachable exited $rc, want 5: $(cat "$LAB_DIR/unreachable.log")"
kill -0 "$HELD" 2>/dev/null || fail "$label: the failed aoe-attach failed the held read"
sleep 3
kill -CONT "$VBLADE"
start_attach "$label"
restarted "$label" "$t0" "$HELD"

touch "$LAB_DIR/stop"
wait "$WRITER" "$READER" || true
WRITER= READER=
errors=$(cat "$LAB_DIR/writer.log" "$LAB_DIR/reader.log" 2>/dev/null | grep -c . || true)
[ "$errors" = 0 ] || fail "the writer and reader saw $errors errors: $(cat "$LAB_DIR"/{writer,reader}.log 2>/dev/null | head -n 3)"
kio=$(dmesg | grep -ciE 'I/O error|lost (async )?page write|EXT4-fs (error|warning)|Buffer I/O' || true)
[ "$kio" = 0 ] || fail "$kio I/O errors in the kernel log: $(dmesg | grep -iE 'I/O error|lost|EXT4-fs (error|warning)' | head -n 3)"
umount "$mnt" || fail "umount $mnt"
e2fsck -fn "$DEV" >"$LAB_DIR/fsck.log" 2>&1 || { cat "$LAB_DIR/fsck.log"; fail "e2fsck -fn $DEV"; }
mount -o ro "$DEV" "$mnt" ||
  fail "mount -o ro $DEV after umount and fsck: $(grep nbd /proc/mounts; ls /sys/block/${DEV#/dev/}/holders)"
(cd "$mnt" && sha256sum -c --quiet "$LAB_DIR/sums") || fail "checksums after the restarts"
umount "$mnt"
echo "writer: $(written) files fsync'ed across 3 restarts, byte-exact, fsck clean, no I/O error logged"

# --- D. aoe-detach while the kernel holds I/O for a successor
label=D-detach
kill -9 "$DAEMON_PID"
wait_gone "$label" "$DAEMON_PID"
DAEMON_PID=
held_read "$label"
"$detach" "$target" || fail "$label: aoe-detach $target exited $?"
rc=0; wait "$HELD" || rc=$?
[ "$rc" != 0 ] || fail "$label: the held read succeeded with nothing serving $DEV"
[ ! -e "/sys/block/${DEV#/dev/}/pid" ] || fail "$label: $DEV still configured after aoe-detach"
[ ! -L "/dev/etherd/$target" ] || fail "$label: /dev/etherd/$target left behind"
[ "$("$stat" --json | jq length)" = 0 ] || fail "$label: aoe-stat still lists something: $("$stat" --json)"
echo "$label: aoe-detach during the reconnect window: the held read failed at once, $DEV free"
DEV=

# --- E. nothing adopts: EIO once the reconnect timeout passed
label=E-expiry
start_attach "$label" "$expiry"
kill -9 "$DAEMON_PID"
wait_gone "$label" "$DAEMON_PID"
DAEMON_PID=
start=$(date +%s)
dd if="$DEV" of=/dev/null bs=4k count=1 iflag=direct status=none 2>"$LAB_DIR/expiry.err" &
held=$!
sleep $((expiry / 2))
kill -0 "$held" 2>/dev/null || fail "$label: I/O failed before the reconnect timeout: $(cat "$LAB_DIR/expiry.err")"
rc=0
for _ in $(seq $(((expiry / 2 + 10) * 10))); do kill -0 "$held" 2>/dev/null || break; sleep 0.1; done
kill -0 "$held" 2>/dev/null && fail "$label: I/O still held $((expiry + 10)) s after aoe-attach died"
wait "$held" || rc=$?
took=$(($(date +%s) - start))
[ "$rc" != 0 ] && grep -qi "error" "$LAB_DIR/expiry.err" || fail "$label: held read: exit $rc, '$(cat "$LAB_DIR/expiry.err")'"
st=$("$stat" --json "$target")
[ "$(jq -r '.[0].state' <<<"$st")" = orphaned ] && [ "$(jq -r '.[0].device' <<<"$st")" = "$DEV" ] ||
  fail "$label: aoe-stat $target: $st"
"$detach" "$target" || fail "$label: aoe-detach of the orphaned $DEV exited $?"
[ ! -e "/sys/block/${DEV#/dev/}/pid" ] || fail "$label: $DEV still configured after aoe-detach"
[ ! -L "/dev/etherd/$target" ] || fail "$label: /dev/etherd/$target left behind"
pgrep -x aoe-attach >/dev/null && fail "$label: an aoe-attach is left running"
echo "$label: nothing adopted $DEV: EIO after ${took} s (--reconnect-timeout $expiry), aoe-stat showed it orphaned, aoe-detach freed it"
DEV=

echo "requests held across a daemon restart: $HELD_TOTAL, errors: 0"
echo "PASS: aoe-attach restarts under a mounted file system without an I/O error"
