#!/bin/bash
# test-kernel-aoe-attach.sh: runs inside the VM (tests/vm/run-vm-test).
# The real product end to end: vblade serves a sparse file (guest tmpfs) as
# e1.2 from namespace "blade" over two veth pairs, one to namespace "init",
# one to the root namespace.  aoe-attach in kernel mode (daemonized):
#  1. from the root namespace: generic netlink, the default (backend
#     identifier, /dev/etherd link, size), busy --device refused over
#     netlink and over the ioctls without harming the device, aoe-stat by
#     device, ext4 mkfs/mount/write, aoe-detach refused while mounted,
#     umount/fsck/remount/verify, a resize, aoe-detach returning only once
#     the daemon is gone; then the backing file holds the filesystem
#     (e2fsck, debugfs cat), and a second aoe-detach exits 5;
#  2. from namespace init (`ip netns exec`): the genl family "nbd" is not
#     visible outside the root network namespace, so this is the ioctl
#     fallback: the files of 1 read back, one more written, fsck,
#     aoe-detach e01.2, the backing file checked again;
#  3. --connections 2: the kernel's request timeout above the deadline
#     (debugfs), --deadline 0 refused;
#  4. stderr on a pipe; SIGTERM to the daemon detaches;
#  5. without the nbd module: a message naming `modprobe nbd` and --socket,
#     exit 6.
# Needs $AOE_BUILD_DIR (the build tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
. "$here/guest-prepare.sh"
guest_prepare "$attach" "$detach" "$stat" jq vblade ip mkfs.ext4 e2fsck debugfs blockdev sha256sum modprobe rmmod
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"

size_mib=64
target=e1.2
root_if=aoe-root0
no_nbd_conf=/etc/modprobe.d/zz-aoe-test-no-nbd.conf   # guest overlay: gone at power-off
DAEMON_PID=
DEV=

fail() {
  echo "FAIL: $*"
  for f in "$LAB_DIR"/attach*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  echo "--- dmesg"; dmesg | tail -n 20
  exit 1
}

cleanup() {
  local rc=$?
  umount "$LAB_DIR/mnt" 2>/dev/null || true
  rm -f "$no_nbd_conf"
  lsmod | grep -q '^nbd ' || modprobe nbd 2>/dev/null || true
  # a daemon still serving: detach it the normal way before the lab goes
  if [ -L "/dev/etherd/$target" ]; then timeout 20 "$detach" -t 5 "$target" >/dev/null 2>&1 || true; fi
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then kill "$DAEMON_PID" 2>/dev/null || true; fi
  ip link del "$root_if" 2>/dev/null || true
  lab_cleanup
  exit "$rc"
}

lab_init kattach
trap cleanup EXIT
mnt=$LAB_DIR/mnt
mkdir -p "$mnt"
lab_wire init eth0 blade eth0
lab_wire_root "$root_if" blade eth1
img=$(lab_image e1.2.img "${size_mib}M")
start_vblades() {
  lab_vblade blade eth0 1 2 "$img"; VBLADE0=$LAB_LAST_PID
  lab_vblade blade eth1 1 2 "$img"; VBLADE1=$LAB_LAST_PID
}
start_vblades

# run_attach init|root ARGS...: aoe-attach from namespace init or the root
# namespace; the daemonizing parent's exit status, its stdout in $OUT, the
# stderr so far in $ERR.  Each run logs to its own $LOG (the daemon keeps
# the parent's stderr), so runs never mix.
RUNS=0
run_attach() {
  local where=$1 rc=0; shift
  local cmd=("$attach" -i "$root_if" "$@")
  [ "$where" = init ] && cmd=(ip netns exec "$(lab_nsname init)" "$attach" -i eth0 "$@")
  RUNS=$((RUNS + 1))
  LOG=$LAB_DIR/attach$RUNS.log
  OUT=$(timeout 60 "${cmd[@]}" 2>"$LOG") || rc=$?
  ERR=$(cat "$LOG")
  return "$rc"
}

start_daemon() {   # init|root LABEL [ARGS...]: sets DEV, DAEMON_PID and DAEMON_LOG
  local rc=0 name tid where=$1 label=$2
  shift 2
  set -- "$where" "$label" "$@"
  run_attach "$where" "${@:3}" "$target" || rc=$?
  DAEMON_LOG=$LOG
  [ "$rc" = 0 ] || fail "$2: aoe-attach $target exited with $rc: $ERR"
  DEV=$OUT
  [[ $DEV =~ ^/dev/nbd[0-9]+$ ]] || fail "$2: aoe-attach printed '$DEV', want /dev/nbdN"
  name=${DEV#/dev/}
  # the task that started the device: the daemon's main thread (netlink) or
  # its thread parked in NBD_DO_IT (ioctl)
  tid=$(cat "/sys/block/$name/pid" 2>/dev/null) || fail "$2: $DEV is not running (no /sys/block/$name/pid)"
  DAEMON_PID=$(awk '$1 == "Tgid:" {print $2}' "/proc/$tid/status" 2>/dev/null || true)
  [ -n "$DAEMON_PID" ] && [ "$(cat "/proc/$DAEMON_PID/comm" 2>/dev/null)" = aoe-attach ] ||
    fail "$2: /sys/block/$name/pid is $tid, not a thread of aoe-attach"
  [ "$(readlink "/dev/etherd/$target")" = "$DEV" ] ||
    fail "$2: /dev/etherd/$target -> '$(readlink "/dev/etherd/$target" || true)', want $DEV"
  local bytes want; bytes=$(blockdev --getsize64 "$DEV") want=$(stat -c %s "$img")   # grown in round 1
  [ "$bytes" = "$want" ] || fail "$2: $DEV is $bytes bytes, want $want"
  echo "$2: aoe-attach $target -> $DEV, $bytes bytes (daemon pid $DAEMON_PID), /dev/etherd/$target -> $DEV"
}

expect_busy() {   # init|root LABEL: a second attach to $DEV is refused, the first one unharmed
  local rc=0 tid; tid=$(cat "/sys/block/${DEV#/dev/}/pid")
  # The same target again: the first daemon's status socket answers, refused.
  run_attach "$1" "$target" || rc=$?
  [ "$rc" != 0 ] && grep -q "already served by another aoe-attach" <<<"$ERR" ||
    fail "$2: a second aoe-attach $target: exit $rc, '$ERR'"
  # With its own run directory it gets as far as the kernel, which refuses.
  rc=0
  AOE_RUN_DIR=$LAB_DIR/run-second run_attach "$1" --device "$DEV" "$target" || rc=$?
  [ "$rc" != 0 ] || fail "$2: a second aoe-attach --device $DEV succeeded ('$OUT')"
  [ -z "$OUT" ] || fail "$2: the failed attach printed '$OUT' on stdout"
  grep -q "already in use" <<<"$ERR" || fail "$2: exit $rc, message not clear: '$ERR'"
  [ "$(cat "/sys/block/${DEV#/dev/}/pid" 2>/dev/null)" = "$tid" ] || fail "$2: the failed attach disturbed $DEV"
  [ "$(readlink "/dev/etherd/$target")" = "$DEV" ] || fail "$2: the failed attach changed /dev/etherd/$target"
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "$2: the first daemon died"
  dd if="$DEV" of=/dev/null bs=64k count=16 iflag=direct status=none || fail "$2: $DEV unreadable after the failed attach"
  echo "$2: aoe-attach --device $DEV refused, exit $rc: $(sed 's/^<[0-7]>//' <<<"$ERR")"
}

wait_daemon_gone() {   # LABEL: the daemon ends by itself after a detach
  for _ in $(seq 150); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$DAEMON_PID" 2>/dev/null && fail "$1: aoe-attach (pid $DAEMON_PID) still running 15 s after the detach"
  DAEMON_PID=
}

check_detached() {   # LABEL
  local name=${DEV#/dev/}
  [ ! -e "/sys/block/$name/pid" ] || fail "$1: $DEV still running after detach"
  [ "$(cat "/sys/block/$name/size" 2>/dev/null || echo 0)" = 0 ] || fail "$1: $DEV still has a size"
  [ ! -e "/dev/etherd/$target" ] && [ ! -L "/dev/etherd/$target" ] || fail "$1: /dev/etherd/$target left behind"
  [ -z "$DAEMON_LOG" ] || grep -q "detached from $DEV" "$DAEMON_LOG" || fail "$1: the daemon did not log its detach"
  echo "$1: daemon exited, $DEV disconnected, link removed"
}

# --- 1. from the root namespace: generic netlink, the default path
label=netlink
start_daemon root "$label" --rediscover 1
grep -qx "aoe-nbd:$target" "/sys/block/${DEV#/dev/}/backend" ||
  fail "$label: backend is '$(cat "/sys/block/${DEV#/dev/}/backend" 2>/dev/null || true)', want aoe-nbd:$target"
expect_busy root "$label busy"
expect_busy init "$label busy over ioctl"
# aoe-stat picks the daemon by its device, however the device is named
for name in "$DEV" "${DEV#/dev/}" "/dev/etherd/$target"; do
  st=$("$stat" --json "$name") || fail "$label: aoe-stat $name exited $?"
  [ "$(jq -r 'length' <<<"$st")" = 1 ] && [ "$(jq -r '.[0].target' <<<"$st")" = "$target" ] &&
    [ "$(jq -r '.[0].device' <<<"$st")" = "$DEV" ] || fail "$label: aoe-stat --json $name: $st"
done
rc=0; "$stat" /dev/nbd999 >/dev/null 2>&1 || rc=$?
[ "$rc" = 5 ] || fail "$label: aoe-stat /dev/nbd999 (nobody serves it) exited $rc, want 5 (not attached)"
echo "$label: aoe-stat $DEV, ${DEV#/dev/} and /dev/etherd/$target show $target"

mkfs.ext4 -q -F "$DEV"
mount "$DEV" "$mnt"
for i in 1 2 3 4; do head -c $((i << 20)) /dev/urandom >"$mnt/file$i"; done
(cd "$mnt" && sha256sum file* >"$LAB_DIR/sums")
# Mounted: aoe-detach refuses, and the device goes on serving.
rc=0; msg=$("$detach" "$target" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "mounted on $mnt" <<<"$msg" && grep -q -- "--force" <<<"$msg" ||
  fail "$label: aoe-detach of a mounted $DEV: exit $rc, '$msg'"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "$label: the refused detach stopped the daemon"
echo "$label: aoe-detach refused while mounted: $msg"
sync
umount "$mnt"
e2fsck -fn "$DEV" >"$LAB_DIR/fsck.log" 2>&1 || { cat "$LAB_DIR/fsck.log"; fail "$label: e2fsck -fn $DEV"; }
# the umount dropped the page cache: this reads back over AoE
guest_verify_ro "$DEV" "$mnt" "$LAB_DIR/sums" || fail "$label: checksums after remount"
echo "$label: ext4 on $DEV: 10 MiB written, fsck clean, read back identical"

# The image grows and vblade restarts: rediscovery resizes $DEV (netlink
# NBD_CMD_RECONFIGURE), and the data stays.
kill "$VBLADE0" "$VBLADE1"
truncate -s $(((size_mib + 16) << 20)) "$img"
start_vblades
for _ in $(seq 100); do
  [ "$(blockdev --getsize64 "$DEV")" = $(((size_mib + 16) << 20)) ] && break
  sleep 0.1
done
[ "$(blockdev --getsize64 "$DEV")" = $(((size_mib + 16) << 20)) ] ||
  fail "$label: $DEV is $(blockdev --getsize64 "$DEV") bytes 10 s after the image grew by 16 MiB"
grep -q "resized to $(((size_mib + 16) << 20)) bytes" "$DAEMON_LOG" || fail "$label: no log line about the resize"
head -c 1M /dev/urandom >"$LAB_DIR/tail"
dd if="$LAB_DIR/tail" of="$DEV" bs=1M seek=$((size_mib + 8)) oflag=direct status=none ||
  fail "$label: cannot write past the old end of $DEV"
dd if="$img" of="$LAB_DIR/tail.back" bs=1M skip=$((size_mib + 8)) count=1 status=none  # no /dev/fd here
cmp "$LAB_DIR/tail.back" "$LAB_DIR/tail" ||
  fail "$label: the backing file does not hold what was written past the old end"
guest_verify_ro "$DEV" "$mnt" "$LAB_DIR/sums" || fail "$label: checksums after the resize"
echo "$label: image grown by 16 MiB: $DEV resized, written past the old end, files intact"

# aoe-detach returns once the daemon drained and exited, not before.
"$detach" "$target" || fail "$label: aoe-detach $target exited with $?"
kill -0 "$DAEMON_PID" 2>/dev/null && fail "$label: aoe-detach returned while aoe-attach (pid $DAEMON_PID) still runs"
[ ! -e "$AOE_RUN_DIR/$target.sock" ] || fail "$label: aoe-detach returned before the status socket went"
DAEMON_PID=
check_detached "$label"
rc=0; msg=$("$detach" "$target" 2>&1) || rc=$?
[ "$rc" = 5 ] || fail "$label: aoe-detach of a detached target: exit $rc, want 5 (not attached): $msg"

# the backing file holds the filesystem (no loop device needed)
check_backing() {   # LABEL
  e2fsck -fn "$img" >"$LAB_DIR/fsck-img.log" 2>&1 || { cat "$LAB_DIR/fsck-img.log"; fail "$1: e2fsck -fn $img"; }
  local want got
  want=$(awk '$2 == "file3" {print $1}' "$LAB_DIR/sums")
  got=$(debugfs -R "cat /file3" "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$1: /file3 in $img has sha256 $got, want $want"
  echo "$1: $img is a clean ext4, /file3 matches"
}
check_backing "$label backing"

# --- 2. from a network namespace: the genl family "nbd" is not visible
# outside the root network namespace, so this is the ioctl fallback
label=netns
start_daemon init "$label"
[ -z "$(cat "/sys/block/${DEV#/dev/}/backend" 2>/dev/null)" ] ||
  fail "$label: a backend identifier is set: netlink worked in a namespace, revisit this test"
expect_busy init "$label busy"
mount "$DEV" "$mnt"
(cd "$mnt" && sha256sum -c --quiet "$LAB_DIR/sums") || fail "$label: checksums of the files written in round 1"
head -c 3M /dev/urandom >"$mnt/file5"
(cd "$mnt" && sha256sum file5 >>"$LAB_DIR/sums")
umount "$mnt"
e2fsck -fn "$DEV" >"$LAB_DIR/fsck.log" 2>&1 || { cat "$LAB_DIR/fsck.log"; fail "$label: e2fsck -fn $DEV"; }
echo "$label: the files of round 1 read back identical, one more written, fsck clean"
"$detach" "e0${target#e}" || fail "$label: aoe-detach e0${target#e} exited with $?"
kill -0 "$DAEMON_PID" 2>/dev/null && fail "$label: aoe-detach returned while aoe-attach (pid $DAEMON_PID) still runs"
DAEMON_PID=
check_detached "$label"
check_backing "$label backing"

# --- 3. several sockets: the kernel times requests out on them whatever
# the timeout, so it must lie above the deadline (daemon/kernel_serving.cpp
# kernel_request_timeout: 5 s + 30 s); retrying forever is refused.
label=multi-conn
rc=0; run_attach root --connections 2 --deadline 0 "$target" || rc=$?
[ "$rc" = 2 ] || fail "$label: --connections 2 --deadline 0: exit $rc, want 2: $ERR"
start_daemon root "$label" --connections 2 --deadline 5
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
# 6.1 shows the timeout in jiffies (35 s at HZ=250 is 8750); 0 means the 30 s default.
timeout_file=/sys/kernel/debug/nbd/${DEV#/dev/}/timeout
case $(cat "$timeout_file") in
  35 | 3500 | 8750 | 10500 | 35000) ;;   # seconds, or jiffies at HZ 100, 250, 300, 1000
  *) fail "$label: $timeout_file is '$(cat "$timeout_file" 2>&1)', want 35 s" ;;
esac
dd if="$DEV" of=/dev/null bs=1M count=8 iflag=direct status=none || fail "$label: $DEV unreadable"
"$detach" "$DEV" || fail "$label: aoe-detach $DEV exited with $?"
DAEMON_PID=
check_detached "$label"
echo "$label: two sockets, kernel timeout 35 s above the 5 s deadline"

# --- 4. stderr on the caller's pipe, as in `dev=$(aoe-attach e1.2 2>&1)`:
# the caller must see EOF once the device is attached (the daemon must not
# keep the pipe), and the daemon must outlive the reader.
label=pipe
mkfifo "$LAB_DIR/stderr.fifo"
timeout 15 cat "$LAB_DIR/stderr.fifo" >"$LAB_DIR/stderr.piped" &
reader=$!
rc=0
timeout 60 "$attach" -i "$root_if" "$target" >"$LAB_DIR/stdout.piped" 2>"$LAB_DIR/stderr.fifo" || rc=$?
[ "$rc" = 0 ] || fail "$label: aoe-attach exited with $rc: $(cat "$LAB_DIR/stderr.piped")"
DEV=$(cat "$LAB_DIR/stdout.piped")
rc=0
wait "$reader" || rc=$?
[ "$rc" = 0 ] || fail "$label: the reader of aoe-attach's stderr saw no EOF within 15 s of the start: the daemon holds the caller's pipe"
tid=$(cat "/sys/block/${DEV#/dev/}/pid" 2>/dev/null) || fail "$label: $DEV is not running"
DAEMON_PID=$(awk '$1 == "Tgid:" {print $2}' "/proc/$tid/status")
DAEMON_LOG=
dd if="$DEV" of=/dev/null bs=64k count=16 iflag=direct status=none || fail "$label: $DEV unreadable"
echo "$label: attached $DEV with stderr on a pipe, which saw EOF"
# SIGTERM makes the daemon log before it disconnects: with the reader gone,
# that line must not kill it half way (SIGPIPE)
kill -TERM "$DAEMON_PID"
wait_daemon_gone "$label SIGTERM"
check_detached "$label SIGTERM"

# --- 5. no nbd driver: a clear message and exit 6 (daemon/exit_codes.h exit_no_nbd)
rmmod nbd || fail "no-nbd: rmmod nbd (still in use?)"
echo "install nbd /bin/false" >"$no_nbd_conf"   # newer kernels would autoload it via genl
rc=0
run_attach root "$target" || rc=$?
rm -f "$no_nbd_conf"
[ "$rc" = 6 ] || fail "no-nbd: aoe-attach exited with $rc, want 6: $ERR"
grep -q "modprobe nbd" <<<"$ERR" && grep -q -- "--socket" <<<"$ERR" ||
  fail "no-nbd: the message names neither modprobe nbd nor --socket: '$ERR'"
[ ! -e "/dev/etherd/$target" ] || fail "no-nbd: /dev/etherd/$target was created"
echo "no-nbd: exit $rc: $(sed 's/^<[0-7]>//' <<<"$ERR")"
modprobe nbd || fail "modprobe nbd"
[ -e /dev/nbd0 ] || fail "modprobe nbd: no /dev/nbd0"

echo "PASS: aoe-attach kernel mode against vblade (netlink from the root, ioctl from a namespace)"
