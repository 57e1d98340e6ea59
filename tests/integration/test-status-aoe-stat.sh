#!/usr/bin/env bash
# test-status-aoe-stat.sh AOE_ATTACH AOE_STAT: aoe-stat against a live
# aoe-attach --socket serving vblade over two NICs (two target ports of one
# disk).  With nothing attached it prints [] and exits 0, and a named target
# exits 1; stale sockets are skipped.  While nbdcopy writes, two --json
# snapshots show frames_sent growing on every path, state "up", every stable
# key; the table has the target line and a line per path; a second
# aoe-attach for the same target is refused; the socket goes with the daemon.
set -euo pipefail
attach=$1 stat=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
lab_require vblade nbdcopy python3
lab_init stat
export AOE_RUN_DIR=$LAB_DIR/run
fail() { echo "FAIL: $*"; [ -f "$LAB_DIR/attach.log" ] && sed 's/^/  attach: /' "$LAB_DIR/attach.log"; exit 1; }

lab_wire init eth0 blade eth0 1500
lab_wire init eth1 blade eth1 1500
img=$(lab_image e1.2.img 64M)
lab_vblade blade eth0 1 2 "$img"
lab_vblade blade eth1 1 2 "$img"

# Nothing attached: an empty array, exit 0; a named target: exit 5 (not found).
out=$("$stat" --json) || fail "aoe-stat --json with nothing attached exited $?"
[ "$(echo "$out" | tr -d ' \n')" = "[]" ] || fail "expected [], got: $out"
set +e; msg=$("$stat" e1.2 2>&1); rc=$?; set -e
[ "$rc" = 5 ] || fail "aoe-stat e1.2 with nothing attached exited $rc"
echo "$msg" | grep -q "not attached" || fail "unclear message: $msg"

# A stale socket (its daemon was killed) is skipped, and reported with -v.
mkdir -p -m 0700 "$AOE_RUN_DIR"
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' "$AOE_RUN_DIR/e9.9.sock"
out=$("$stat" --json 2>"$LAB_DIR/stat.err") || fail "aoe-stat with a stale socket exited $?"
[ "$(echo "$out" | tr -d ' \n')" = "[]" ] || fail "stale socket listed: $out"
[ ! -s "$LAB_DIR/stat.err" ] || fail "stale socket reported without -v: $(cat "$LAB_DIR/stat.err")"
"$stat" -v 2>&1 >/dev/null | grep -q "e9.9.sock" || fail "aoe-stat -v does not report the stale socket"

sock=$LAB_DIR/e1.2.sock
status=$AOE_RUN_DIR/e1.2.sock
lab_bg init "$attach" --foreground -i eth0,eth1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
attach_pid=$LAB_LAST_PID
for _ in $(seq 100); do [ -S "$sock" ] && [ -S "$status" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "aoe-attach did not start"
[ -S "$status" ] || fail "aoe-attach serves no status socket at $status"
[ "$(stat -c %a "$status")" = 600 ] || fail "status socket mode $(stat -c %a "$status")"

# Load: nbdcopy writes over and over until told to stop.
head -c 32M /dev/urandom >"$LAB_DIR/data"
( while [ ! -e "$LAB_DIR/stop" ]; do nbdcopy "$LAB_DIR/data" "nbd+unix:///?socket=$sock" || exit 1; done ) &
load=$!
sleep 1
"$stat" --json >"$LAB_DIR/one.json" || fail "aoe-stat --json exited $?"
sleep 1
"$stat" --json e1.2 >"$LAB_DIR/two.json" || fail "aoe-stat --json e1.2 exited $?"
"$stat" >"$LAB_DIR/table" || fail "aoe-stat exited $?"
"$stat" --json "$sock" >"$LAB_DIR/by-socket.json" || fail "aoe-stat --json SOCKET exited $?"
kill -0 "$load" 2>/dev/null || fail "the load stopped before the second snapshot"

python3 - "$LAB_DIR" "$sock" "$attach_pid" <<'PY'
import json, os, sys
lab, sock, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
one, two, by_socket = (json.load(open(os.path.join(lab, f))) for f in ("one.json", "two.json", "by-socket.json"))
target_keys = {"target", "device", "pid", "state", "size_bytes", "payload_bytes", "model", "serial",
               "in_flight", "fences", "kept_bytes", "fenced_writes", "repairs", "paths"}
path_keys = {"interface", "mac", "state", "payload_bytes", "window", "window_cap", "outstanding", "srtt_us",
             "rttvar_us", "rto_us", "frames_sent", "retransmits", "timeouts", "late_replies",
             "duplicate_replies", "rejected_replies", "send_drops", "receive_drops", "failures"}
assert len(one) == 1 and len(two) == 1 and by_socket == [by_socket[0]], (one, two, by_socket)
a, b = one[0], two[0]
for d in (a, b):
    assert target_keys <= set(d), set(d) ^ target_keys
    assert d["target"] == "e1.2" and d["device"] == sock, d
    assert d["state"] == "up", d["state"]
    assert d["size_bytes"] == 64 << 20 and d["payload_bytes"] == 1024, d
    # ip netns exec runs aoe-attach as a child of the pid we know, or as it
    assert d["pid"] > 0
    assert sorted(p["interface"] for p in d["paths"]) == ["eth0", "eth1"], d["paths"]
    for p in d["paths"]:
        assert path_keys <= set(p), set(p) ^ path_keys
        assert p["state"] == "up" and p["frames_sent"] > 0 and p["srtt_us"] > 0, p
assert by_socket[0]["target"] == "e1.2"
before = {p["interface"]: p["frames_sent"] for p in a["paths"]}
after = {p["interface"]: p["frames_sent"] for p in b["paths"]}
for i in before:
    assert after[i] > before[i], ("frames_sent did not grow", i, before[i], after[i])
print("frames_sent", before, "->", after)
PY

grep -Eq "^e1\.2 +$sock +67\.109MB +up +1024$" "$LAB_DIR/table" || { cat "$LAB_DIR/table"; fail "no target line"; }
for i in eth0 eth1; do
  grep -Eq "^ +$i +([0-9a-f]{2}:){5}[0-9a-f]{2} +up +window [0-9]+/[0-9]+ +srtt [0-9.]+ms .*sent [1-9]" "$LAB_DIR/table" ||
    { cat "$LAB_DIR/table"; fail "no path line for $i"; }
done
cat "$LAB_DIR/table"

# A second aoe-attach for the same target is refused and the first keeps serving.
set +e
msg=$(lab_in init "$attach" --foreground -i eth0,eth1 --socket "$LAB_DIR/second.sock" e1.2 2>&1); rc=$?
set -e
[ "$rc" != 0 ] || fail "a second aoe-attach for e1.2 started"
echo "$msg" | grep -q "already served" || fail "second aoe-attach: unclear message: $msg"
"$stat" --json e1.2 >/dev/null || fail "the first aoe-attach stopped answering"

touch "$LAB_DIR/stop"
wait "$load" || fail "nbdcopy failed under load"
kill "$attach_pid"
for _ in $(seq 100); do kill -0 "$attach_pid" 2>/dev/null || break; sleep 0.1; done
[ ! -e "$status" ] || fail "status socket left behind after SIGTERM"
out=$("$stat" --json) && [ "$(echo "$out" | tr -d ' \n')" = "[]" ] || fail "after detach: $out"
echo PASS
