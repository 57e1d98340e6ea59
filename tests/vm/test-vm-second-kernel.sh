#!/bin/bash
# test-vm-second-kernel.sh: runs inside the VM (tests/vm/run-vm-test
# --kernel SERIES, the series as $1).  The harness booted the kernel the test
# asked for, and that kernel has what the kernel serving modes need as
# modules: nbd and aoe (preloaded by run-in-vm) and ublk_drv, whose control
# device appears once it is loaded.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
want=${1:?usage: test-vm-second-kernel.sh SERIES}

kver=$(uname -r)
echo "guest kernel $kver (AOE_VM_KVER=${AOE_VM_KVER:-unset})"
case $kver in "$want".*|"$want"-*) ;; *) fail "booted $kver, not a $want kernel" ;; esac
[ "$kver" = "${AOE_VM_KVER:-}" ] || fail "AOE_VM_KVER '${AOE_VM_KVER:-}' is not the running kernel"
for m in nbd aoe; do
  [ -d "/sys/module/$m" ] || fail "module $m is not loaded"
done
modprobe ublk_drv || fail "modprobe ublk_drv"
for _ in $(seq 50); do [ -c /dev/ublk-control ] && break; sleep 0.1; done
[ -c /dev/ublk-control ] || fail "/dev/ublk-control did not appear after modprobe ublk_drv"
echo "PASS: $kver with nbd, aoe and ublk_drv (/dev/ublk-control)"
