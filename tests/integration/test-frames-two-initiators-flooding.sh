#!/usr/bin/env bash
# test-frames-two-initiators-flooding.sh BUILD_DIR: two initiator hosts and
# a vblade host behind a Linux bridge that learns no address (ageing time
# 0), so it floods every frame to every port, with both initiators' NICs
# promiscuous: each sees all the other's traffic, replies included.  Both
# run aoe-attach --socket on the same e1.2.  While host A reads at random
# offsets (checking that every sector it gets is the one it asked for:
# each carries its own offset), host B writes the whole disk and reads it
# back, byte-exact, several times.  No error on either side.
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
command -v vblade >/dev/null || { echo "SKIP: vblade not installed"; exit 77; }
/usr/bin/python3 -c 'import nbd' 2>/dev/null || { echo "SKIP: python3-libnbd not installed"; exit 77; }
lab_init flood
attach=$build/tools/aoe-attach
fail() {
  for h in a b; do sed "s/^/  attach $h: /" "$LAB_DIR/attach-$h.log"; done
  echo "FAIL: $*"
  exit 1
}

lab_wire a eth0 sw pa 1500
lab_wire b eth0 sw pb 1500
lab_wire blade eth0 sw pt 1500
lab_in sw ip link add br0 type bridge ageing_time 0
for p in pa pb pt; do
  lab_in sw ip link set "$p" master br0
  lab_in sw bridge link set dev "$p" flood on
done
lab_in sw ip link set br0 up
lab_in a ip link set eth0 promisc on
lab_in b ip link set eth0 promisc on

size=$((32 << 20))
img=$(lab_image e1.2.img $size)
# Every sector starts with its own offset (8 bytes, little-endian).
/usr/bin/python3 - "$img" $size <<'PY'
import struct, sys
img, size = sys.argv[1], int(sys.argv[2])
with open(img, "r+b") as f:
    f.write(b"".join(struct.pack("<QQ", off, 0) + bytes(496) for off in range(0, size, 512)))
PY
lab_vblade blade eth0 1 2 "$img"

# Two hosts: each its own status directory (one aoe-attach per target per host).
declare -A pid
for h in a b; do
  lab_bg "$h" env AOE_RUN_DIR="$LAB_DIR/run-$h" "$attach" --foreground -v -i eth0 --socket "$LAB_DIR/$h.sock" e1.2 \
    2>"$LAB_DIR/attach-$h.log"
  pid[$h]=$LAB_LAST_PID
done
for h in a b; do
  for _ in $(seq 100); do [ -S "$LAB_DIR/$h.sock" ] && break; sleep 0.1; done
  [ -S "$LAB_DIR/$h.sock" ] || fail "aoe-attach on host $h did not start"
done

# Host A: random reads until host B is done; every sector must carry its
# own offset (any round's).
/usr/bin/python3 - "nbd+unix:///?socket=$LAB_DIR/a.sock" "$LAB_DIR/b-done" >"$LAB_DIR/reader.log" 2>&1 <<'PY' &
import os, random, struct, sys
import nbd
uri, done = sys.argv[1:]
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
rng = random.Random(7)
reads = 0
while not os.path.exists(done) or reads < 10:
    length = rng.randint(1, 256) * 512
    offset = rng.randrange(0, (size - length) // 512 + 1) * 512
    data = h.pread(length, offset)
    for i in range(0, length, 512):
        (got,) = struct.unpack_from("<Q", data, i)
        if got != offset + i:
            sys.exit(f"FAIL: sector at {offset + i} carries offset {got}")
    reads += 1
h.shutdown()
print(f"host A: {reads} random reads, every sector its own")
PY
reader=$!

# Host B: write the whole disk (a new round number in every sector) and
# read it back, several rounds.
/usr/bin/python3 - "nbd+unix:///?socket=$LAB_DIR/b.sock" "$LAB_DIR/b-done" 4 <<'PY' || fail "host B: see above"
import random, struct, sys
import nbd
uri, done, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
chunk = 1 << 20
for r in range(1, rounds + 1):
    rng = random.Random(r)
    fill = rng.randbytes(496)
    def block(start):
        return b"".join(struct.pack("<QQ", off, r) + fill for off in range(start, start + chunk, 512))
    for start in range(0, size, chunk):
        h.pwrite(block(start), start)
    h.flush()
    for start in range(0, size, chunk):
        if h.pread(chunk, start) != block(start):
            sys.exit(f"FAIL: round {r}: read-back at {start} differs from what was written")
    print(f"host B: round {r}: {size} bytes written and read back exact")
h.shutdown()
open(done, "w").close()
PY
wait "$reader" || { cat "$LAB_DIR/reader.log"; fail "host A's reads failed"; }
cat "$LAB_DIR/reader.log"
declare -A sent
for h in a b; do
  kill -0 "${pid[$h]}" 2>/dev/null || fail "aoe-attach on host $h died"
  # Rejected: what the kernel filter let through that was not ours.
  AOE_RUN_DIR="$LAB_DIR/run-$h" "$build/tools/aoe-stat" e1.2 | sed "s/^/  host $h: /"
  sent[$h]=$(AOE_RUN_DIR="$LAB_DIR/run-$h" "$build/tools/aoe-stat" --json e1.2 |
    python3 -c 'import json, sys; print(sum(p["frames_sent"] for p in json.load(sys.stdin)[0]["paths"]))')
done
# The segment really flooded: host A's NIC received host B's requests and
# replies as well as its own replies.
rx_a=$(lab_in a cat /sys/class/net/eth0/statistics/rx_packets)
echo "host A received $rx_a frames; A sent ${sent[a]}, B sent ${sent[b]}"
[ "$rx_a" -gt $((sent[a] + sent[b])) ] || fail "host A did not see host B's traffic: the bridge did not flood"

echo PASS
