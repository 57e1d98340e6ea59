#!/usr/bin/env bash
# test-rediscover-capacity.sh BUILD_DIR: the target's image grows by 16 MiB
# and vblade restarts.  aoe-attach --socket --rediscover 1 logs the new
# capacity; a new NBD connection sees the new size and writes past the old
# end into the backing file; a connection opened before keeps working; the
# data written before is intact.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
lab_require vblade python3:nbd
lab_init cap
attach=$build/tools/aoe-attach
fail() { echo "FAIL: $*"; sed 's/^/  attach: /' "$LAB_DIR/attach.log"; exit 1; }

lab_wire init eth0 blade eth0 1500
img=$(lab_image e1.2.img 16M)
lab_vblade blade eth0 1 2 "$img"
vblade=$LAB_LAST_PID
sock=$LAB_DIR/e1.2.sock
lab_bg init "$attach" --foreground -i eth0 --rediscover 1 --socket "$sock" e1.2 2>"$LAB_DIR/attach.log"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "aoe-attach did not start"
uri="nbd+unix:///?socket=$sock"

/usr/bin/python3 - "$uri" "$img" "$vblade" "$(lab_nsname blade)" "$LAB_DIR/attach.log" <<'PY' || fail "see above"
import os, random, signal, subprocess, sys, time
import nbd

uri, img, vblade, blade_ns, log = sys.argv[1:]
old, new = 16 << 20, 32 << 20
before = nbd.NBD()
before.connect_uri(uri)
assert before.get_size() == old, before.get_size()
head = random.Random(1).randbytes(1 << 20)
before.pwrite(head, 0)
before.flush()

os.kill(int(vblade), signal.SIGKILL)
os.truncate(img, new)
subprocess.Popen(["ip", "netns", "exec", blade_ns, "vblade", "1", "2", "eth0", img],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
deadline = time.monotonic() + 10
while f"capacity changed from {old} to {new} bytes" not in open(log).read():
    if time.monotonic() > deadline:
        sys.exit("FAIL: no capacity change logged 10 s after the image grew")
    time.sleep(0.2)

after = nbd.NBD()
after.connect_uri(uri)
if after.get_size() != new:
    sys.exit(f"FAIL: a new connection sees {after.get_size()} bytes, want {new}")
tail = random.Random(2).randbytes(1 << 20)
after.pwrite(tail, new - len(tail))
after.flush()
assert after.pread(len(tail), new - len(tail)) == tail
# the old connection still works within the size it negotiated
assert before.pread(len(head), 0) == head
after.shutdown(); before.shutdown()
with open(img, "rb") as f:
    disk = f.read()
if disk[:len(head)] != head or disk[new - len(tail):] != tail:
    sys.exit("FAIL: the backing file differs from the data written")
print("grown 16 -> 32 MiB: new connection sees it, writes past the old end land, old data intact")
PY
kill -0 "$LAB_LAST_PID" 2>/dev/null || fail "aoe-attach died"
echo PASS
