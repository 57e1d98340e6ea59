#!/usr/bin/env bash
# test-fault-target-gone-deadline.sh AOE_ATTACH AOE_RELAY
#
# aoe-attach --deadline 3; vblade is killed.  A read through NBD fails with
# EIO within deadline + 2 s of the kill (never hangs), the next read fails
# fast (< 1 s) and aoe-stat shows the target down; vblade restarted, reads
# succeed again within a few seconds with the data intact, served by the
# same aoe-attach process, and aoe-stat shows it up.
set -euo pipefail
attach=$1 relay=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/fault-lab.sh"
lab_require vblade python3:nbd
lab_init fgone
start=$(now_s)
deadline=3

fault_lab gone "$relay"
fault_relay_start
image=$(lab_image disk.img 16M)
fault_vblade "$image"
fault_attach "$attach" "$LAB_DIR/disk.sock" --deadline "$deadline"
attach_pid=$FAULT_ATTACH_PID

if timeout 60 /usr/bin/python3 - "nbd+unix:///?socket=$LAB_DIR/disk.sock" "$image" "$FAULT_VBLADE_PID" \
  "$(lab_nsname blade)" "$LAB_DIR/vblade-restarted.log" "$deadline" "$(dirname "$attach")/aoe-stat" <<'PY'
import json, os, random, signal, subprocess, sys, time
import nbd

uri, image, vblade_pid, blade_ns, vblade_log, deadline, aoe_stat = sys.argv[1:]
vblade_pid, deadline = int(vblade_pid), float(deadline)

def state():
    out = subprocess.run([aoe_stat, "--json", "e1.2"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]["state"]

h = nbd.NBD()
h.connect_uri(uri)
data = random.Random(3).randbytes(4 << 20)
h.pwrite(data, 0)
h.flush()
assert h.pread(len(data), 0) == data

def failing_read(what):
    t = time.monotonic()
    try:
        h.pread(1 << 20, 1 << 20)
    except nbd.Error as e:
        took = time.monotonic() - t
        if e.errno != "EIO":  # nbd.Error.errno is the name
            sys.exit(f"FAIL: {what}: error {e.errno} ({e}), not EIO")
        print(f"{what}: EIO after {took:.2f} s")
        return took
    sys.exit(f"FAIL: {what}: succeeded with the target dead")

os.kill(vblade_pid, signal.SIGKILL)
killed = time.monotonic()
took = failing_read("first read after the kill")
since_kill = time.monotonic() - killed
if since_kill > deadline + 2:
    sys.exit(f"FAIL: EIO came {since_kill:.2f} s after the kill, limit {deadline + 2:.1f} s")
if since_kill < deadline * 0.8:
    sys.exit(f"FAIL: EIO came {since_kill:.2f} s after the kill, before the {deadline} s deadline")
took = failing_read("second read")
if took >= 1:
    sys.exit(f"FAIL: the second read took {took:.2f} s; a target known down must fail fast")
if state() != "down":
    sys.exit(f"FAIL: aoe-stat says {state()!r} for a target past its deadline, not 'down'")
# Writes fail the same way, and the connection survives it all.
try:
    h.pwrite(b"x" * 4096, 0)
    sys.exit("FAIL: a write succeeded with the target dead")
except nbd.Error as e:
    if e.errno != "EIO":  # nbd.Error.errno is the name
        sys.exit(f"FAIL: write: error {e.errno}, not EIO")

with open(vblade_log, "ab") as log:
    subprocess.Popen(["ip", "netns", "exec", blade_ns, "vblade", "1", "2", "eth0", image],
                     stdout=log, stderr=log, start_new_session=True)
restarted = time.monotonic()
while True:
    try:
        got = h.pread(len(data), 0)
        break
    except nbd.Error as e:
        if e.errno != "EIO":  # nbd.Error.errno is the name
            sys.exit(f"FAIL: read after the restart: error {e.errno}, not EIO")
        if time.monotonic() - restarted > 10:
            sys.exit("FAIL: reads still fail 10 s after vblade came back")
        time.sleep(0.2)
print(f"reads succeed again {time.monotonic() - restarted:.2f} s after the restart")
if got != data:
    sys.exit("FAIL: data read after the restart differs from what was written")
if state() != "up":
    sys.exit(f"FAIL: aoe-stat says {state()!r} once the target answers again, not 'up'")
more = random.Random(4).randbytes(1 << 20)
h.pwrite(more, 8 << 20)
h.flush()
assert h.pread(len(more), 8 << 20) == more
h.shutdown()
with open(image, "rb") as f:
    disk = f.read()
if disk[:len(data)] != data or disk[8 << 20:(8 << 20) + len(more)] != more:
    sys.exit("FAIL: the backing file differs from the data written")
PY
then :; else sed 's/^/  attach: /' "$LAB_DIR/attach.log"; exit 1; fi
kill -0 "$attach_pid" || { echo "FAIL: aoe-attach died"; exit 1; }
fault_relay_stop
echo "PASS ($(awk -v a="$start" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}') s)"
