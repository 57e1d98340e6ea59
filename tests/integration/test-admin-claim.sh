#!/usr/bin/env bash
# test-admin-claim.sh TOOLS_DIR: the claim module (what aoe-attach --claim
# runs) through aoe-cfg --claim, two hosts sharing one vblade on a bridge,
# each with its own identity (AOE_NBD_IDENTITY, as the man page documents
# for tests): the first claims, the second is refused with exit 7 naming the
# holder, the first may claim again, the second may force, and releasing
# clears the config string but never another host's claim.
set -euo pipefail
tools=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/bridge-lab.sh"
lab_init aclaim

bridge_lab
img=$(lab_image disk.img 8M)
lab_vblade blade br0 1 2 "$img"
ida=aoe-nbd:hosta:aaaa idb=aoe-nbd:hostb:bbbb
as() { local host=$1 id=$2; shift 2; lab_in "$host" env AOE_NBD_IDENTITY="$id" "$tools/aoe-cfg" -t 0.3 "$@"; }
current() { expect_status 0 as hosta "" e1.2; echo "$out"; }

expect_status 0 as hosta "$ida" --claim e1.2
[ "$(current)" = "$ida" ] || fail "hosta's claim not stored"

expect_status 7 as hostb "$idb" --claim e1.2
[[ $err == *"claimed by \"$ida\" (host hosta)"* ]] || fail "refusal does not name the holder: $err"
[[ $err == *"--force-claim"* ]] || fail "refusal does not say how to override: $err"
[ "$(current)" = "$ida" ] || fail "refused claim changed the string"

expect_status 0 as hosta "$ida" --claim e1.2  # re-attach after a crash

expect_status 0 as hostb "$idb" --force-claim e1.2
[ "$(current)" = "$idb" ] || fail "force-claim did not take over"
[[ $err == *"took the claim over from \"$ida\""* ]] || fail "takeover not logged: $err"

# hosta's release must not clear hostb's claim.
expect_status 7 as hosta "$ida" --release-claim e1.2
[[ $err == *"now claimed by \"$idb\""* ]] || fail "release of another's claim: $err"
[ "$(current)" = "$idb" ] || fail "hosta released hostb's claim"

expect_status 0 as hostb "$idb" --release-claim e1.2
[ "$(current)" = "" ] || fail "release left '$(current)'"
expect_status 0 as hostb "$idb" --release-claim e1.2  # nothing left: fine

# A claim over a string some other tool wrote is refused as well.
expect_status 0 as hosta "" --set "PREFIX SERIAL NAME" e1.2
expect_status 7 as hostb "$idb" --claim e1.2
[[ $err == *'claimed by "PREFIX SERIAL NAME"'* ]] || fail "foreign label: $err"
echo PASS
