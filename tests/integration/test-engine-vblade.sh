#!/usr/bin/env bash
# test-engine-vblade.sh BUILD_DIR MTU: the engine against real vblade over
# veth at one MTU, two targets, the first over two paths (two NICs to two
# target ports of the same disk).  Random reads and writes of assorted sizes
# and alignments through aoe-attach --socket match the backing files byte for
# byte, and the frame size follows the MTU.
set -euo pipefail
build=$1 mtu=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
lab_require vblade python3:nbd
lab_init eng
attach=$build/tools/aoe-attach discover=$build/tools/aoe-discover

lab_wire init eth0 blade eth0 "$mtu"
lab_wire init eth1 blade eth1 "$mtu"
img2=$(lab_image e1.2.img 48M)
img3=$(lab_image e1.3.img 40M)
lab_vblade blade eth0 1 2 "$img2"
lab_vblade blade eth1 1 2 "$img2"
lab_vblade blade eth0 1 3 "$img3"

json=$(lab_in init "$discover" --json -i eth0,eth1)
expect_payload=$(( mtu == 9000 ? 8704 : 1024 ))
/usr/bin/python3 - "$json" "$expect_payload" <<'PY'
import json, sys
targets = {t["target"]: t for t in json.loads(sys.argv[1])}
payload = int(sys.argv[2])
assert set(targets) == {"e1.2", "e1.3"}, targets.keys()
assert targets["e1.2"]["size_bytes"] == 48 << 20 and targets["e1.3"]["size_bytes"] == 40 << 20
assert len(targets["e1.2"]["paths"]) == 2 and len(targets["e1.3"]["paths"]) == 1
for t in targets.values():
    assert t["payload_bytes"] == payload, (t["target"], t["payload_bytes"])
    assert t["lba48"] and t["model"], t
PY

lab_bg init "$attach" --foreground -i eth0,eth1 --socket "$LAB_DIR/e1.2.sock" e1.2
lab_bg init "$attach" --foreground -i eth0,eth1 --socket "$LAB_DIR/e1.3.sock" e1.3
for s in e1.2 e1.3; do
  for _ in $(seq 100); do [ -S "$LAB_DIR/$s.sock" ] && break; sleep 0.1; done
  [ -S "$LAB_DIR/$s.sock" ] || { echo "FAIL: aoe-attach $s did not start"; exit 1; }
done
/usr/bin/python3 "$here/random-io.py" "nbd+unix:///?socket=$LAB_DIR/e1.2.sock" "$img2" "$mtu" 300 &
a=$!
/usr/bin/python3 "$here/random-io.py" "nbd+unix:///?socket=$LAB_DIR/e1.3.sock" "$img3" "$((mtu + 1))" 300
wait "$a"
echo PASS
