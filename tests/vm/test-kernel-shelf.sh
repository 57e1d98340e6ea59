#!/bin/bash
# test-kernel-shelf.sh: runs inside the VM (tests/vm/run-vm-test).
# aoe-attach --all in kernel mode: vblade serves four sparse files (guest
# tmpfs) as e1.0-e1.3 from namespace "blade" over a veth to the root
# namespace (where the nbd netlink family lives).  --all gives each its
# /dev/nbdN and /dev/etherd link (made by aoe-attach: no udev here); ext4 on
# two of them is mounted at once, written, and read back after a remount;
# aoe-detach --all refuses the mounted ones, and after umount detaches
# every device and stops the supervisor; the backing files hold the data.
# Needs $AOE_BUILD_DIR (the build tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
. "$here/guest-prepare.sh"
guest_prepare "$attach" "$detach" "$stat" vblade ip mkfs.ext4 e2fsck debugfs modprobe
modprobe nbd 2>/dev/null || true
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
root_if=aoe-shelf0

fail() {
  echo "FAIL: $*"
  [ -s "$LAB_DIR/attach.log" ] && { echo "--- attach.log"; tail -n 40 "$LAB_DIR/attach.log"; }
  echo "--- dmesg"; dmesg | tail -n 20
  exit 1
}
cleanup() {
  local rc=$?
  umount "$LAB_DIR"/mnt* 2>/dev/null || true
  timeout 30 "$detach" --all --force >/dev/null 2>&1 || true
  ip link del "$root_if" 2>/dev/null || true
  lab_cleanup
  exit "$rc"
}
lab_init kshelf
trap cleanup EXIT
lab_wire_root "$root_if" blade eth0
for slot in 0 1 2 3; do
  img=$(lab_image "e1.$slot.img" 64M)
  lab_bg blade vblade 1 "$slot" eth0 "$img" >>"$LAB_DIR/vblade.log" 2>&1
done
sleep 0.5

"$attach" --all -i "$root_if" -t 0.5 >"$LAB_DIR/ready" 2>"$LAB_DIR/attach.log" || fail "aoe-attach --all exited $?"
[ "$(wc -l <"$LAB_DIR/ready")" = 4 ] || fail "ready lines: $(cat "$LAB_DIR/ready")"
for slot in 0 1 2 3; do
  dev=$(awk -v t="e1.$slot" '$1 == t { print $2 }' "$LAB_DIR/ready")
  [ -b "$dev" ] || fail "e1.$slot: no block device ($dev)"
  [ "$(readlink -f "/dev/etherd/e1.$slot")" = "$dev" ] || fail "/dev/etherd/e1.$slot does not lead to $dev"
  [ "$(blockdev --getsize64 "$dev")" = $((64 << 20)) ] || fail "$dev: size $(blockdev --getsize64 "$dev")"
done
[ "$("$stat" --json | grep -c '"target"')" = 4 ] || fail "aoe-stat: $("$stat" --json)"

# ext4 on two, mounted at once, written, remounted, verified.
head -c 4M /dev/urandom >"$LAB_DIR/data"
for slot in 1 3; do
  mkfs.ext4 -q -F "/dev/etherd/e1.$slot" || fail "mkfs e1.$slot"
  mkdir -p "$LAB_DIR/mnt$slot"
  mount "/dev/etherd/e1.$slot" "$LAB_DIR/mnt$slot" || fail "mount e1.$slot"
done
for slot in 1 3; do cp "$LAB_DIR/data" "$LAB_DIR/mnt$slot/data" && sync -f "$LAB_DIR/mnt$slot/data"; done
# Mounted: refused, the others detached, the supervisor left running.
set +e; "$detach" --all 2>"$LAB_DIR/detach.err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "aoe-detach --all with two mounted exited $rc"
[ -L /dev/etherd/e1.0 ] && fail "e1.0 (not mounted) was not detached"
for slot in 1 3; do
  umount "$LAB_DIR/mnt$slot"
  e2fsck -fn "/dev/etherd/e1.$slot" >/dev/null 2>&1 || fail "e2fsck e1.$slot"
  mount "/dev/etherd/e1.$slot" "$LAB_DIR/mnt$slot"
  cmp "$LAB_DIR/data" "$LAB_DIR/mnt$slot/data" || fail "e1.$slot: data differs after remount"
  umount "$LAB_DIR/mnt$slot"
done
"$detach" --all || fail "aoe-detach --all exited $?"
for slot in 0 1 2 3; do [ ! -e "/dev/etherd/e1.$slot" ] || fail "/dev/etherd/e1.$slot left"; done
[ -z "$("$stat" --json | grep '"target"')" ] || fail "aoe-stat still lists: $("$stat" --json)"
for slot in 1 3; do
  debugfs -R "cat /data" "$LAB_DIR/e1.$slot.img" 2>/dev/null | cmp - "$LAB_DIR/data" || fail "e1.$slot's backing file"
done
echo PASS
