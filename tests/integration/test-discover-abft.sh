#!/usr/bin/env bash
# test-discover-abft: aoe-discover --abft, as the initramfs runs it with no
# aoeroot= on the kernel command line: an aBFT as iPXE's `sanboot aoe:e1.2`
# publishes it gives "e1.2 MAC INTERFACE", the interface being the one with
# the firmware's MAC ("-" when none has it); no table: exit 5, saying so; a
# corrupt table: exit 1, naming the fault.
#   test-discover-abft.sh AOE_DISCOVER
set -euo pipefail
discover=${1:?usage: $0 path/to/aoe-discover}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
source "$here/../../scripts/lab.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }

lab_require python3
lab_init abft
lab_wire i ei0 t et0
ip -n "$(lab_nsname i)" link set ei0 address 52:54:00:12:34:56

# table FILE SHELF SLOT MAC [CORRUPT]: a 46-byte aBFT whose bytes sum to zero.
table() {
  python3 - "$@" <<'PY'
import struct, sys
path, shelf, slot, mac = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4].replace(":", ""))
t = bytearray(b"aBFT" + struct.pack("<IBB", 46, 1, 0) + b"FENSYS" + b"iPXE\0\0\0\0" + struct.pack("<I", 1)
              + b"FENS" + struct.pack("<I", 1) + struct.pack("<HBB", shelf, slot, 0) + mac)
t[9] = (-sum(t)) % 256
if len(sys.argv) > 5: t[41] ^= 1
open(path, "wb").write(t)
PY
}

table "$LAB_DIR/abft" 1 2 52:54:00:12:34:56
out=$(lab_in i "$discover" --abft-table "$LAB_DIR/abft") || fail "a good table: exit $?"
[ "$out" = "e1.2 52:54:00:12:34:56 ei0" ] || fail "a good table: got '$out'"

table "$LAB_DIR/other" 300 7 02:00:00:00:00:09
out=$(lab_in i "$discover" --abft-table "$LAB_DIR/other" 2>"$LAB_DIR/err") || fail "an unknown MAC: exit $?"
[ "$out" = "e300.7 02:00:00:00:00:09 -" ] || fail "an unknown MAC: got '$out'"
grep -q "no local interface has the MAC 02:00:00:00:00:09" "$LAB_DIR/err" || fail "an unknown MAC: not said: $(cat "$LAB_DIR/err")"

rc=0
err=$(lab_in i "$discover" --abft-table "$LAB_DIR/none" 2>&1) || rc=$?
[ "$rc" = 5 ] || fail "no table: exit $rc, want 5"
grep -q "did not boot from an AoE target" <<<"$err" || fail "no table: message: $err"

table "$LAB_DIR/corrupt" 1 2 52:54:00:12:34:56 corrupt
rc=0
err=$(lab_in i "$discover" --abft 2>&1 --abft-table "$LAB_DIR/corrupt") || rc=$?
[ "$rc" = 1 ] || fail "corrupt table: exit $rc, want 1"
grep -q "checksum" <<<"$err" || fail "corrupt table: message: $err"
echo "PASS: aoe-discover --abft"
