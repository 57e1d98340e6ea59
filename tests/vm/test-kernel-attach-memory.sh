#!/bin/bash
# test-kernel-attach-memory.sh: runs inside the VM (tests/vm/run-vm-test).
# A RAM disk served by our NBD server is attached through nbd-bridge's
# kernel_attach, once over generic netlink and once over the legacy ioctls;
# each time: size, /dev/etherd link, ext4 mkfs/mount/write/fsck/remount/verify,
# then detach (aoe-detach by target name, or SIGTERM to the tool) and check
# that the device is disconnected and the link gone.  Short extra rounds
# cover the other detach path of each interface, a live resize, a busy
# --device and aoe-detach's errors.  Needs $AOE_BUILD_DIR (the build tree).
set -euo pipefail

attach_tool=$AOE_BUILD_DIR/tests/vm/nbd-memory-attach
detach_tool=$AOE_BUILD_DIR/tools/aoe-detach
for t in "$attach_tool" "$detach_tool" mkfs.ext4 e2fsck blockdev sha256sum; do
  command -v "$t" >/dev/null || { echo "FAIL: missing $t"; exit 1; }
done
modprobe ext4 || true    # preloaded by run-in-vm
size_mib=64
target=e7.3
run=$(mktemp -d /run/attach-test.XXXXXX)   # guest RAM, never the 9p share
TOOL_PID=

cleanup() {
  umount "$run/mnt" 2>/dev/null || true
  if [ -n "$TOOL_PID" ]; then kill "$TOOL_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

start_tool() {   # args for nbd-memory-attach; sets TOOL_PID and DEV
  "$attach_tool" --size-mib "$size_mib" "$@" >"$run/tool.out" 2>"$run/tool.err" &
  TOOL_PID=$!
  for _ in $(seq 300); do
    DEV=$(head -n1 "$run/tool.out")
    [ -n "$DEV" ] && return 0
    kill -0 "$TOOL_PID" 2>/dev/null || { cat "$run/tool.err"; fail "nbd-memory-attach $* exited"; }
    sleep 0.1
  done
  fail "nbd-memory-attach $* printed no device in 30 s"
}

wait_tool_exit() {   # the tool must end by itself, with status 0
  local rc=0
  for _ in $(seq 300); do kill -0 "$TOOL_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$TOOL_PID" 2>/dev/null && fail "nbd-memory-attach still running 30 s after the detach"
  wait "$TOOL_PID" || rc=$?
  TOOL_PID=
  [ "$rc" = 0 ] || { cat "$run/tool.err"; fail "nbd-memory-attach exited with $rc"; }
}

check_attached() {   # $1 = label
  local name=${DEV#/dev/} bytes
  bytes=$(blockdev --getsize64 "$DEV")
  [ "$bytes" = $((size_mib << 20)) ] || fail "$1: $DEV is $bytes bytes, want $((size_mib << 20))"
  [ -e "/sys/block/$name/pid" ] || fail "$1: /sys/block/$name/pid missing: not running"
  echo "$1: attached $DEV, $bytes bytes"
}

check_detached() {   # $1 = label
  local name=${DEV#/dev/}
  [ ! -e "/sys/block/$name/pid" ] || fail "$1: $DEV still running after detach"
  [ "$(cat "/sys/block/$name/size" 2>/dev/null || echo 0)" = 0 ] || fail "$1: $DEV still has a size"
  [ ! -e "/dev/etherd/$target" ] || fail "$1: /dev/etherd/$target left behind"
  echo "$1: detached, $DEV disconnected, link removed"
}

filesystem_round() {   # $1 = label: mkfs, write, fsck, remount, verify
  mkfs.ext4 -q -F "$DEV"
  mkdir -p "$run/mnt"
  mount "$DEV" "$run/mnt"
  for i in 1 2 3 4; do head -c $((i * 3))M /dev/urandom >"$run/mnt/file$i"; done
  (cd "$run/mnt" && sha256sum file* >"$run/sums")
  sync
  umount "$run/mnt"
  e2fsck -fn "$DEV" >"$run/fsck.log" 2>&1 || { cat "$run/fsck.log"; fail "$1: e2fsck"; }
  # the umount dropped the page cache, so this reads through nbd again
  mount -o ro "$DEV" "$run/mnt"
  (cd "$run/mnt" && sha256sum -c --quiet "$run/sums") || fail "$1: checksums after remount"
  umount "$run/mnt"
  echo "$1: ext4 mkfs, 30 MiB written, fsck clean, read back identical"
}

# --- netlink: the kernel picks the device; detached by target name
start_tool --link "$target"
label="netlink"
check_attached "$label"
[ "$(readlink "/dev/etherd/$target")" = "$DEV" ] || fail "$label: /dev/etherd/$target -> $(readlink "/dev/etherd/$target")"
grep -qx "aoe-nbd:$target" "/sys/block/${DEV#/dev/}/backend" || fail "$label: backend is '$(cat "/sys/block/${DEV#/dev/}/backend")'"
# the same device again must be refused as busy
if "$attach_tool" --size-mib 8 --device "$DEV" >/dev/null 2>"$run/busy.err"; then fail "$label: second attach to $DEV succeeded"; fi
grep -q "already in use" "$run/busy.err" || { cat "$run/busy.err"; fail "$label: busy error not reported"; }
echo "$label: a second attach to $DEV is refused: $(cat "$run/busy.err")"
filesystem_round "$label"
"$detach_tool" "$target" || fail "$label: aoe-detach $target exited with $?"
wait_tool_exit
check_detached "$label"

# --- ioctl fallback on a named device; detached by SIGTERM to the tool
start_tool --ioctl --device /dev/nbd2 --link "$target"
label="ioctl"
[ "$DEV" = /dev/nbd2 ] || fail "$label: attached $DEV, want /dev/nbd2"
check_attached "$label"
[ "$(readlink "/dev/etherd/$target")" = "$DEV" ] || fail "$label: /dev/etherd/$target -> $(readlink "/dev/etherd/$target")"
[ -z "$(cat "/sys/block/${DEV#/dev/}/backend" 2>/dev/null)" ] || fail "$label: a backend identifier was set: not the ioctl path"
filesystem_round "$label"
kill -TERM "$TOOL_PID"
wait_tool_exit
check_detached "$label"

# --- the other detach paths and a live resize, without a filesystem
check_resized() {   # $1 = label
  local bytes; bytes=$(blockdev --getsize64 "$DEV")
  [ "$bytes" = $((32 << 20)) ] || fail "$1: $DEV is $bytes bytes after the resize, want $((32 << 20))"
  echo "$1: resized live to $bytes bytes"
}
start_tool --link "$target" --resize-mib 32
check_resized "netlink+SIGTERM"
kill -TERM "$TOOL_PID"
wait_tool_exit
check_detached "netlink+SIGTERM"

start_tool --ioctl --resize-mib 32
check_resized "ioctl+aoe-detach"
"$detach_tool" "$DEV" || fail "ioctl+aoe-detach: aoe-detach $DEV exited with $?"
wait_tool_exit
check_detached "ioctl+aoe-detach"

# --- aoe-detach errors
expect_rc() {   # WANT ARGS...
  local want=$1 rc=0; shift
  "$detach_tool" "$@" 2>"$run/detach.err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$run/detach.err"; fail "aoe-detach $*: exit $rc, want $want"; }
  echo "aoe-detach $*: exit $rc: $(cat "$run/detach.err")"
}
expect_rc 5 "$DEV"          # disconnected
expect_rc 5 e9.9            # no link
expect_rc 5 /dev/nbd999     # no device
expect_rc 2 not-a-device

echo "PASS: kernel attach (netlink and ioctl)"
