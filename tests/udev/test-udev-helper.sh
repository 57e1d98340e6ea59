#!/usr/bin/env bash
# test-udev-helper.sh AOE_NBD_ID RULES: the udev helper as udev runs it (one
# argument per word of the substituted attribute): prints the target and
# exits 0 for our identifiers only; and the configured rule calls this very
# helper.
set -euo pipefail
id=${1:?usage: $0 path/to/aoe_nbd_id path/to/60-aoe-nbd.rules}
rules=${2:?usage: $0 path/to/aoe_nbd_id path/to/60-aoe-nbd.rules}
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$id" aoe-nbd:e1.2) || fail "aoe-nbd:e1.2: exit $?"
[ "$out" = e1.2 ] || fail "aoe-nbd:e1.2: printed '$out'"
for args in "" "aoe-nbd:e01.2" "nbd:e1.2" "aoe-nbd:e70000.1" "aoe-nbd:e1.2 x" "aoe-nbd:../e1.2"; do
  rc=0
  # shellcheck disable=SC2086  # split like udev splits PROGRAM
  out=$("$id" $args) || rc=$?
  [ "$rc" = 1 ] && [ -z "$out" ] || fail "'$args': exit $rc, printed '$out' (want exit 1, nothing)"
done
# ublk devices by kernel name: names that are not a ublk disk or partition
# are refused before the driver is asked (a real device: tests/vm/test-kernel-ublk.sh).
for name in "" ublkb ublkbX nbd0 ublkb3q ublkb3p ublkc3; do
  rc=0
  out=$("$id" --ublk "$name") || rc=$?
  [ "$rc" = 1 ] && [ -z "$out" ] || fail "--ublk '$name': exit $rc, printed '$out' (want exit 1, nothing)"
done
grep -q "PROGRAM=\"$id %s{backend}\"" "$rules" || fail "$rules does not call $id"
grep -q "PROGRAM=\"$id --ublk %k\"" "$rules" || fail "$rules does not call $id for ublk devices"
echo PASS
