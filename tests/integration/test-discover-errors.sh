#!/usr/bin/env bash
# test-discover-errors: aoe-discover with no targets (exit 0, empty JSON
# array, empty table), with an interface that does not exist (non-zero,
# the message names it), and without CAP_NET_RAW (root with the capability
# dropped: exit 4, the message names it).
#   test-discover-errors.sh AOE_DISCOVER
set -euo pipefail
discover=${1:?usage: $0 path/to/aoe-discover}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
source "$here/../../scripts/lab.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }

lab_require jq setpriv
lab_init discerr
lab_wire i ei0 t et0

out=$(lab_in i "$discover" --json -t 0.3 -i ei0) || fail "no targets: exit $?"
[ "$(jq -c . <<<"$out")" = "[]" ] || fail "no targets: want [], got: $out"
out=$(lab_in i "$discover" -t 0.3) || fail "no targets, default interfaces: exit $?"
[ -z "$out" ] || fail "no targets: want an empty table, got: $out"

rc=0
err=$(lab_in i "$discover" -i ei0 -i nosuch0 2>&1 >/dev/null) || rc=$?
[ "$rc" -ne 0 ] || fail "missing interface: exit 0"
grep -q "nosuch0" <<<"$err" || fail "missing interface: message does not name it: $err"

rc=0
err=$(lab_in i setpriv --bounding-set=-net_raw --inh-caps=-net_raw --ambient-caps=-net_raw \
  "$discover" -t 0.3 -i ei0 2>&1 >/dev/null) || rc=$?
[ "$rc" = 4 ] || fail "no CAP_NET_RAW: exit $rc, want 4: $err"
grep -q "CAP_NET_RAW" <<<"$err" || fail "no CAP_NET_RAW: message does not name it: $err"
echo PASS
