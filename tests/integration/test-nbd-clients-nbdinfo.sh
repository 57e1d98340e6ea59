#!/usr/bin/env bash
# nbdinfo sees the export's size and the flags the bridge must advertise.
. "$(dirname "$0")/test-nbd-common.sh"
lab_require_tools nbdinfo

start_server rw
size=$(nbdinfo --size "$uri")
[ "$size" -ge $((64 << 20)) ] && [ $((size % 512)) -eq 0 ] || fail "size $size"
for feature in flush fua multi-conn zero connect; do
  nbdinfo --can "$feature" "$uri" || fail "cannot $feature"
done
for feature in trim cache; do
  ! nbdinfo --can "$feature" "$uri" || fail "advertises $feature"
done
! nbdinfo --is read-only "$uri" || fail "read-write export says read-only"
nbdinfo --json "$uri" | python3 -c '
import json, sys
e = json.load(sys.stdin)["exports"][0]
assert e["block_size_minimum"] == 512, e
assert e["block_size_preferred"] == 4096, e
assert e["block_size_maximum"] == 32 << 20, e
'
nbdinfo --list "$uri" >/dev/null || fail "LIST"

start_server ro --read-only
nbdinfo --is read-only "$uri" || fail "read-only export not read-only"
echo PASS
