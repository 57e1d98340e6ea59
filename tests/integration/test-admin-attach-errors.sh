#!/usr/bin/env bash
# test-admin-attach-errors.sh TOOLS_DIR: how aoe-attach fails, and what it
# gets right on the way, against real vblade on a bridge shared by two hosts.
#  - without CAP_NET_RAW (root with the capability dropped): exit 4, a
#    message naming CAP_NET_RAW;
#  - none of the named interfaces exists: exit 3, naming them (one that
#    exists is enough: the others join when they appear);
#  - a target nobody serves: exit 5, a message naming it;
#  - masked out by the target's MAC mask list: exit 5, a message that
#    mentions the mask (daemon/attached_target.cpp gives the hint);
#  - in the background with a relative --socket (the daemon works from /)
#    and the target typed as e01.2: the socket is the caller's path, the
#    status socket, export name and aoe-stat all say e1.2, and the status
#    socket is 0600;
#  - aoe-detach of a target that is not attached: exit 5.
set -euo pipefail
tools=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/bridge-lab.sh"
for t in setpriv nbdinfo jq; do command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }; done
lab_init aate

bridge_lab
img=$(lab_image disk.img 8M)
lab_vblade blade br0 1 2 "$img"
attach() { local host=$1; shift; lab_in "$host" "$tools/aoe-attach" -i eth0 -t 0.3 "$@"; }

# No CAP_NET_RAW: the capability leaves the bounding, inheritable and ambient
# sets, so root's exec of aoe-attach cannot have it.
expect_status 4 lab_in hosta setpriv --bounding-set=-net_raw --inh-caps=-net_raw --ambient-caps=-net_raw \
  "$tools/aoe-attach" -i eth0 -t 0.3 --foreground --socket "$LAB_DIR/nocap.sock" e1.2
[[ $err == *CAP_NET_RAW* ]] || fail "no CAP_NET_RAW: the message does not name it: $err"
echo "no CAP_NET_RAW: exit 4: $err"

# Every named interface absent: nothing to join later, exit 3 naming them.
expect_status 3 lab_in hosta "$tools/aoe-attach" -i nosuch0,nosuch1 -t 0.3 --foreground --socket "$LAB_DIR/noif.sock" e1.2
[[ $err == *nosuch0*nosuch1* ]] || fail "no named interface exists: the message does not name them: $err"
echo "no named interface: exit 3: $err"

expect_status 5 attach hosta --foreground --socket "$LAB_DIR/none.sock" e1.9
[[ $err == *"e1.9"*"not found"* ]] || fail "absent target: the message does not say e1.9 is not found: $err"
[ ! -e "$LAB_DIR/none.sock" ] || fail "absent target: the socket was created"
echo "absent target: exit 5: $err"

# Background mode, a relative socket path, a target spelt e01.2.
mkdir "$LAB_DIR/cwd"
out=$(cd "$LAB_DIR/cwd" && attach hosta --socket rel.sock e01.2 2>"$LAB_DIR/bg.err") ||
  fail "background aoe-attach --socket rel.sock: exit $?: $(cat "$LAB_DIR/bg.err")"
[ "$out" = "$LAB_DIR/cwd/rel.sock" ] || fail "background: printed '$out', want $LAB_DIR/cwd/rel.sock"
[ -S "$LAB_DIR/cwd/rel.sock" ] || fail "background: no socket at $LAB_DIR/cwd/rel.sock (relative to / instead?)"
[ "$(nbdinfo --size "nbd+unix:///?socket=$LAB_DIR/cwd/rel.sock")" = $((8 << 20)) ] ||
  fail "background: nbdinfo cannot read the size through rel.sock"
nbdinfo --list --json "nbd+unix:///?socket=$LAB_DIR/cwd/rel.sock" >"$LAB_DIR/list.json"
[ "$(jq -r '.exports[0]["export-name"]' "$LAB_DIR/list.json")" = e1.2 ] ||
  fail "e01.2: export name is not e1.2: $(cat "$LAB_DIR/list.json")"
[ -S "$AOE_RUN_DIR/e1.2.sock" ] && [ ! -e "$AOE_RUN_DIR/e01.2.sock" ] ||
  fail "e01.2: status sockets are: $(ls "$AOE_RUN_DIR")"
[ "$(stat -c %a "$AOE_RUN_DIR/e1.2.sock")" = 600 ] ||
  fail "status socket mode $(stat -c %a "$AOE_RUN_DIR/e1.2.sock"), want 600"
expect_status 0 "$tools/aoe-stat" --json e01.2
[ "$(jq -r '.[0].target' <<<"$out")" = e1.2 ] && [ "$(jq -r '.[0].device' <<<"$out")" = "$LAB_DIR/cwd/rel.sock" ] ||
  fail "aoe-stat e01.2: $out"
pid=$(jq -r '.[0].pid' <<<"$out")
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "background aoe-attach (pid $pid) still running 5 s after SIGTERM"
[ ! -e "$LAB_DIR/cwd/rel.sock" ] || fail "background: rel.sock left behind"
echo "background, relative socket, e01.2: served as e1.2 on $LAB_DIR/cwd/rel.sock"

# hostb masks the target to hosta: hostb is ignored from then on.
mac_a=$(host_mac hosta)
expect_status 0 lab_in hostb "$tools/aoe-mask" -t 0.3 e1.2 add "$mac_a"
expect_status 5 attach hostb --foreground --socket "$LAB_DIR/masked.sock" e1.2
[[ $err == *mask* ]] || fail "masked out: the message does not mention the MAC mask: $err"
echo "masked out: exit 5: $err"

expect_status 5 "$tools/aoe-detach" e65000.200
[[ $err == *"not attached"* ]] || fail "aoe-detach of nothing: $err"
echo PASS
