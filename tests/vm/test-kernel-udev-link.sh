#!/bin/bash
# test-kernel-udev-link.sh: runs inside the VM (tests/vm/run-vm-test).
# Boot-time plumbing with a real udevd: the build tree's 60-aoe-nbd.rules in
# /run/udev/rules.d (calling the build tree's aoe_nbd_id), vblade serving
# e1.2 on a veth to the root namespace, aoe-attach in kernel mode under a
# NOTIFY_SOCKET as systemd's Type=notify gives it:
#  - READY=1 arrives only once /dev/nbdN reads and /dev/etherd/e1.2 exists
#    (the receiver checks both the moment it arrives);
#  - the link is udev's (relative, and listed by `udevadm info` as a
#    symlink of the device, which is what gives systemd its
#    dev-etherd-e1.2.device), and `udevadm test` shows the rule naming it;
#  - aoe-detach e1.2 finds the device through udev's link, and the link
#    goes with the device.
# Skipped (77) when the guest has no udev (the host's udev package).
# Needs $AOE_BUILD_DIR (the build tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
attach=$AOE_BUILD_DIR/tools/aoe-attach
detach=$AOE_BUILD_DIR/tools/aoe-detach
rules=$AOE_BUILD_DIR/udev/build-tree/60-aoe-nbd.rules
udevd=
for d in /lib/systemd/systemd-udevd /usr/lib/systemd/systemd-udevd; do [ -x "$d" ] && udevd=$d && break; done
if [ -z "$udevd" ] || ! command -v udevadm >/dev/null; then
  echo "SKIP: no udev in the guest (install the udev package on the host: scripts/install-deps)"; exit 77
fi
for t in "$attach" "$detach" "$rules" vblade ip python3 dd; do
  [ -e "$t" ] || command -v "$t" >/dev/null || { echo "FAIL: missing $t"; exit 1; }
done
rmmod aoe 2>/dev/null || true   # its own /dev/etherd/e1.2 would be a block node
export TMPDIR=/run
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
target=e1.2
root_if=aoe-root0
DEV=
ATTACH_PID=

fail() {
  echo "FAIL: $*"
  for f in "$LAB_DIR"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
  exit 1
}
cleanup() {
  local rc=$?
  [ -n "$ATTACH_PID" ] && kill "$ATTACH_PID" 2>/dev/null && sleep 1
  udevadm control --exit 2>/dev/null || true
  ip link del "$root_if" 2>/dev/null || true
  lab_cleanup
  exit "$rc"
}

lab_init udev
trap cleanup EXIT
mkdir -p /run/udev/rules.d
cp "$rules" /run/udev/rules.d/
"$udevd" --daemon
udevadm settle -t 10 || true

lab_wire_root "$root_if" blade eth0
img=$(lab_image e1.2.img 32M)
lab_vblade blade eth0 1 2 "$img"

# The receiver stands in for systemd: the moment READY=1 arrives, the link
# must be there and the device must read.
"$here/../support/notify-receiver.py" "$LAB_DIR/notify.sock" "$LAB_DIR/notify.txt" READY -- \
  sh -c "readlink /dev/etherd/$target && dd if=/dev/etherd/$target of=/dev/null bs=64k count=16 iflag=direct status=none" &
receiver=$!
for _ in $(seq 50); do [ -S "$LAB_DIR/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET=$LAB_DIR/notify.sock "$attach" -i "$root_if" -t 0.5 --foreground "$target" 2>"$LAB_DIR/attach.log" &
ATTACH_PID=$!
wait "$receiver" || fail "no READY=1 from aoe-attach: $(cat "$LAB_DIR/notify.txt" 2>/dev/null)"
cat "$LAB_DIR/notify.txt"
grep -q '^at-ready exit=0 output=\.\./nbd[0-9]*$' "$LAB_DIR/notify.txt" ||
  fail "at READY=1, /dev/etherd/$target was not udev's link to a readable device"
DEV=/dev/$(basename "$(readlink "/dev/etherd/$target")")
grep -qx "aoe-nbd:$target" "/sys/block/${DEV#/dev/}/backend" || fail "$DEV has another backend identifier"
udevadm info -q symlink -n "$DEV" | tr ' ' '\n' | grep -qx "etherd/$target" ||
  fail "udev does not list etherd/$target among $DEV's links: $(udevadm info -q symlink -n "$DEV")"
udevadm test --action=change "/sys/block/${DEV#/dev/}" >"$LAB_DIR/udevadm-test.txt" 2>&1 || true
grep -q "etherd/$target" "$LAB_DIR/udevadm-test.txt" ||
  fail "udevadm test does not show the rule adding etherd/$target: $(grep -i -e aoe -e etherd "$LAB_DIR/udevadm-test.txt")"
echo "udev: /dev/etherd/$target -> $(readlink "/dev/etherd/$target") ($DEV), listed by udevadm info, named by the rule in udevadm test"

"$detach" -t 20 "$target" || fail "aoe-detach $target through udev's link: exit $?"
wait "$ATTACH_PID" || fail "aoe-attach exited $? after aoe-detach"
ATTACH_PID=
udevadm settle -t 10 || true
[ ! -e "/dev/etherd/$target" ] && [ ! -L "/dev/etherd/$target" ] || fail "/dev/etherd/$target left after the detach"
echo "aoe-detach $target: $DEV disconnected, the link gone"
echo PASS
