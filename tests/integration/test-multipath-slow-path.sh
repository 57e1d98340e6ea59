#!/usr/bin/env bash
# test-multipath-slow-path.sh BUILD_DIR [DELAY[:JITTER]]: two paths to two
# target ports of one disk (two vblade processes on one file), eth0 direct
# and eth1 through aoe-relay delaying every request by DELAY ms (default 5,
# plus uniform [0, JITTER] ms): a distant or congested switch.  A QD1
# writer (python3-libnbd) writes 12 MiB in 4 KiB writes, each after the
# last completed; the backing file and the read-back must be exact, most of
# the writer's frames (99%) must have gone via the direct port (aoe-stat --json),
# and the slow path must not have been failed.  Times are printed, never asserted.
# (The relay, not tc netem: the delay must not depend on the host kernel's
# sch_netem module.)
set -euo pipefail
build=$1
delay=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/multipath-lab.sh"
multipath_lab mps "$build"
relay=$build/tests/relay/aoe-relay
lab_wire init eth1 relay r0 1500
lab_wire relay r1 blade eth1 1500
img=$(lab_image e1.2.img 16M)
lab_vblade blade eth0 1 2 "$img"
lab_vblade blade eth1 1 2 "$img"
lab_bg relay "$relay" r0 r1 --delay-a2b "$delay" 2>"$LAB_DIR/relay.log"
sock=$LAB_DIR/e1.2.sock
lab_bg init "$attach" --foreground -v -i eth0,eth1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
fail() {
  sed 's/^/  attach: /' "$LAB_DIR/attach.log" | tail -40
  echo "FAIL: $*"
  exit 1
}
# Both paths found before the writer starts (discovery over the relay is slower).
why=$(multipath_serving "$sock" "$stat" 2) || fail "$why"
"$stat" --json e1.2 >"$LAB_DIR/before.json"

size=$((12 << 20))
head -c $size /dev/urandom >"$LAB_DIR/data"
/usr/bin/python3 - "$sock" "$LAB_DIR/data" <<'PY' || fail "the QD1 writer failed"
import sys, time, nbd
h = nbd.NBD()
h.connect_unix(sys.argv[1])
data = open(sys.argv[2], "rb").read()
start = time.monotonic()
for off in range(0, len(data), 4096):
    h.pwrite(data[off:off + 4096], off)  # synchronous: QD1, each write after the last
took = time.monotonic() - start
h.shutdown()
print(f"QD1: {len(data) // 4096} dependent 4 KiB writes in {took:.2f} s")
PY
"$stat" --json e1.2 >"$LAB_DIR/after.json"
cmp "$LAB_DIR/data" <(head -c $size "$img") || fail "backing file differs"
/usr/bin/python3 - "$sock" "$LAB_DIR/data" <<'PY' || fail "the read-back differs"
import sys, nbd
h = nbd.NBD()
h.connect_unix(sys.argv[1])
data = open(sys.argv[2], "rb").read()
back = b"".join(h.pread(1 << 20, off) for off in range(0, len(data), 1 << 20))
h.shutdown()
sys.exit(0 if back == data else 1)
PY
/usr/bin/python3 - "$LAB_DIR/before.json" "$LAB_DIR/after.json" <<'PY' || fail "frames were not scheduled by path speed"
import json, sys
before, after = ({p["interface"]: p for p in json.load(open(f))[0]["paths"]} for f in sys.argv[1:])
sent = {i: after[i]["frames_sent"] - before[i]["frames_sent"] for i in after}
print("frames per path:", sent, "srtt_us:", {i: p["srtt_us"] for i, p in after.items()},
      "failures:", {i: p.get("failures") for i, p in after.items()})
assert sent["eth0"] >= 0.99 * (sent["eth0"] + sent["eth1"]), "the QD1 writer's frames must take the direct port"
assert after["eth1"]["state"] == "up" and after["eth1"].get("failures", 0) == 0, "the slow path was failed"
PY
echo PASS
