#!/usr/bin/env bash
# test-admin-cfg.sh TOOLS_DIR: aoe-cfg against real vblade: read, set if
# empty, force, exact and prefix test, with their exit codes and output.  The
# target has two ports (two vblade processes on one file, each keeping its own
# config string, docs/aoe-protocol.md §4.2), so every write must reach both.
set -euo pipefail
tools=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/bridge-lab.sh"
lab_require vblade
lab_init acfg

lab_wire init eth0 blade eth0
lab_wire init eth1 blade eth1
img=$(lab_image disk.img 8M)
lab_vblade blade eth0 1 2 "$img"
lab_vblade blade eth1 1 2 "$img"
cfg() { lab_in init "$tools/aoe-cfg" -t 0.3 "$@"; }

expect_status 0 cfg -i eth0,eth1 e1.2
[ "$out" = "" ] || fail "fresh target has config string '$out'"

expect_status 0 cfg --set "host one" e1.2
for i in eth0 eth1; do  # both ports got it
  expect_status 0 cfg -i "$i" e1.2
  [ "$out" = "host one" ] || fail "port on $i reads '$out'"
done

# Set if empty: refused while another string is there, which goes to stderr.
expect_status 1 cfg --set "host two" e1.2
[[ $err == *"already has a config string (AoE error 4): host one"* ]] || fail "set refusal: $err"
[ -z "$out" ] || fail "refusal printed on stdout: $out"
expect_status 0 cfg e1.2
[ "$out" = "host one" ] || fail "refused set changed it to '$out'"
expect_status 0 cfg --set "host one" e1.2  # the same string again is fine

# Exact and prefix tests: the target answers only a match (docs/aoe-protocol.md §4.2).
expect_status 0 cfg --test "host one" e1.2
expect_status 1 cfg --test "host" e1.2
expect_status 1 cfg --test "host one " e1.2
expect_status 0 cfg --prefix "host" e1.2
expect_status 0 cfg --prefix "host one" e1.2
expect_status 1 cfg --prefix "host one two" e1.2
expect_status 1 cfg --prefix "other" e1.2
[ -z "$out$err" ] || fail "a mismatch is silent without -v: $out $err"

# Force overwrites; forcing the empty string clears.
expect_status 0 cfg --force "host two" e1.2
expect_status 0 cfg -i eth1 e1.2
[ "$out" = "host two" ] || fail "force: '$out'"
expect_status 0 cfg --force "" e1.2
expect_status 0 cfg e1.2
[ "$out" = "" ] || fail "force '' left '$out'"
expect_status 0 cfg --set "again" e1.2

# Ports that disagree: the first is printed, the difference is reported.
expect_status 0 cfg -i eth1 --force "other" e1.2
expect_status 0 cfg e1.2
[ "$out" = "again" ] || fail "disagreeing ports: stdout '$out'"
[[ $err == *'has config string "other"'* ]] || fail "disagreeing ports not reported: $err"

# The identity claim, as aoe-attach --claim writes it.
expect_status 0 cfg --force "" e1.2
expect_status 0 cfg --claim e1.2
expect_status 0 cfg e1.2
[[ $out == "aoe-nbd:$(lab_in init hostname):"* ]] || fail "claim identity '$out'"

# Errors: absent target, bad names, too long a string.
expect_status 5 cfg e1.9
[[ $err == *"e1.9: no answer"* ]] || fail "not found: $err"
expect_status 2 cfg e1
expect_status 2 cfg --set a --force b e1.2
expect_status 2 cfg --set "$(head -c 1025 /dev/zero | tr '\0' x)" e1.2
expect_status 3 cfg -i nosuch e1.2
expect_status 0 "$tools/aoe-cfg" --help
expect_status 0 "$tools/aoe-cfg" --version
[[ $out == "aoe-cfg "* ]] || fail "version: $out"
echo PASS
