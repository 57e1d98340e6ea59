#!/usr/bin/env bash
# test-write-order.sh BUILD_DIR WHEN GAP: a late copy of a write never
# undoes a newer write (docs/write-ordering.md), against real vblade.
# One target on two ports (two vblade processes on one file, one per NIC:
# the usual multipath shelf).  The vblade of eth0 is stopped (SIGSTOP: a
# target blocked on its disk, a paused VM) before a 512 KiB write W1
# (WHEN=before) or while W1 is in flight (WHEN=middle): copies of W1 stay
# queued in its socket, and W1 completes through eth1.  GAP seconds later
# (longer than every engine timer) W2 writes the same 512 KiB with other
# data and completes; then the stopped vblade continues (SIGCONT) and
# executes W1's old copies on top of W2.  Reads through the NBD socket
# must return W2 all along, and every sector of vblade's file must hold W2
# once aoe-attach has written it again.  The log must show that rewrite,
# or the test did not exercise the hazard.
set -euo pipefail
build=$1
when=$2
gap=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/multipath-lab.sh"
multipath_lab wo "$build"
lab_wire init eth1 blade eth1 1500
img=$(lab_image e1.2.img 16M)
lab_vblade blade eth0 1 2 "$img"
stalled=$LAB_LAST_PID  # ip netns exec execs vblade: the same process
lab_vblade blade eth1 1 2 "$img"
sock=$LAB_DIR/e1.2.sock
lab_bg init "$attach" --foreground -v -i eth0,eth1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
fail() {
  kill -CONT "$stalled" 2>/dev/null || true
  sed 's/^/  attach: /' "$LAB_DIR/attach.log" | tail -40
  echo "FAIL: $*"
  exit 1
}
why=$(multipath_serving "$sock" "$stat" 2) || fail "$why"

/usr/bin/python3 - "$sock" "$stalled" "$when" "$gap" "$img" <<'PY' || fail "W2 did not survive the late copies of W1"
import nbd, os, signal, sys, time
sock, pid, when, gap, img = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
off, size = 1 << 20, 512 << 10
h = nbd.NBD()
h.connect_unix(sock)

def stall():
    os.kill(pid, signal.SIGSTOP)

def resume():
    os.kill(pid, signal.SIGCONT)

w1 = os.urandom(size)
if when == "before":
    stall()
    t = time.monotonic()
    h.pwrite(w1, off)
    print(f"W1 completed {time.monotonic() - t:.2f} s after it was sent, its port stopped before it")
else:
    # Stop the port a few ms after aoe-attach has the whole request, and
    # only count it if W1 had not completed yet.
    for attempt in range(20):
        t = time.monotonic()
        cookie = h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(w1)), off)
        while h.aio_get_direction() & nbd.AIO_DIRECTION_WRITE:
            h.poll(-1)
        time.sleep(0.003 * (1 + attempt % 4))  # W1 takes tens of ms when nothing stalls
        stall()
        h.poll(0)
        if not h.aio_command_completed(cookie):
            break
        resume()  # W1 was done already: again
        time.sleep(0.5)
    else:
        sys.exit("W1 always completed before its port could be stopped")
    while not h.aio_command_completed(cookie):
        h.poll(-1)
    print(f"W1 completed {time.monotonic() - t:.2f} s after it was sent, its port stopped in its middle "
          f"(attempt {attempt + 1})")

time.sleep(gap)
w2 = os.urandom(size)
t = time.monotonic()
h.pwrite(w2, off)
print(f"W2 completed in {time.monotonic() - t:.2f} s after a {gap:.0f} s gap")
if h.pread(size, off) != w2:
    sys.exit("a read right after W2 does not return W2")

resume()
t = time.monotonic()
reads, disk_ok = 0, None
while time.monotonic() - t < 3 or disk_ok is None:
    if h.pread(size, off) != w2:
        sys.exit(f"a read {time.monotonic() - t:.3f} s after the port woke returned older data")
    reads += 1
    with open(img, "rb") as f:
        f.seek(off)
        on_disk = f.read(size)
    if on_disk == w2:
        if disk_ok is None:
            disk_ok = time.monotonic() - t
    else:
        disk_ok = None
        stale = sum(on_disk[i:i + 512] != w2[i:i + 512] for i in range(0, size, 512))
        print(f"{time.monotonic() - t:.3f} s after the port woke: {stale} sectors on disk differ from W2")
    if time.monotonic() - t > 20:
        sys.exit("vblade's file never came to hold W2")
print(f"{reads} reads after the port woke returned W2; the file holds W2 since {disk_ok:.3f} s after it woke")
h.shutdown()
PY
grep -q "writing the newer data again" "$LAB_DIR/attach.log" ||
  fail "no late copy of W1 executed: the test did not exercise the hazard"
grep "writing the newer data again" "$LAB_DIR/attach.log" | head -3 | sed 's/^/  attach: /'
# aoe-stat counts the repairs the log reports.  Fences may stay: a copy the
# stopped vblade's socket dropped never executes nor answers, and stays
# fenced for the life of the process (docs/write-ordering.md §4).
"$stat" --json e1.2 | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)[0]
print("aoe-stat: repairs %d, fences %d, kept_bytes %d, fenced_writes %d"
      % (d["repairs"], d["fences"], d["kept_bytes"], d["fenced_writes"]))
sys.exit(0 if d["repairs"] >= 1 else 1)' || fail "aoe-stat does not count the repairs the log shows"
echo PASS
