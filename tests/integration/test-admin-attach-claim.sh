#!/usr/bin/env bash
# test-admin-attach-claim.sh TOOLS_DIR: aoe-attach --claim between two hosts
# sharing one vblade on a bridge, each with its own identity
# (AOE_NBD_IDENTITY): the first attaches and claims; the second is refused
# with exit 7 naming the holder; a clean detach releases the claim unless
# --keep-claim; the same identity may attach again over its own claim (a
# restart after a crash); --force-claim takes it over.  An attach that
# fails after claiming (here: the kernel attach, which no namespace can do
# without /dev/nbdN) releases its claim, but a second aoe-attach of the
# same host refused because the first serves the target leaves the first
# one's claim alone.  A claim lost while serving (another identity forced
# it) refuses writes until the claim is ours again, and a clean detach then
# leaves the other's claim.  Two hosts sharing a host name and a machine-id
# (one image) still claim as two: their NICs' MACs differ.
set -euo pipefail
tools=$1
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lab.sh"
. "$here/bridge-lab.sh"
lab_require vblade nbdsh python3
lab_init aatc

bridge_lab
img=$(lab_image disk.img 8M)
lab_vblade blade br0 1 2 "$img"
ida=aoe-nbd:hosta:aaaa idb=aoe-nbd:hostb:bbbb
# Two hosts have two /run: hostb's daemons keep their status sockets apart
# (AOE_RUN_DIR), as on another machine; hosta's are the ones aoe-stat reads.
run_env() { [ "$1" = hostb ] && echo "AOE_RUN_DIR=$LAB_DIR/run-hostb" || echo "AOE_RUN_DIR=${AOE_RUN_DIR:-/run/aoe}"; }
current() { expect_status 0 lab_in hosta "$tools/aoe-cfg" -t 0.3 e1.2; echo "$out"; }

# attach HOST ID ARGS...: aoe-attach --socket in the background; sets $pid
attach() {
  local host=$1 id=$2; shift 2
  rm -f "$LAB_DIR/$host.sock"
  lab_bg "$host" env "$(run_env "$host")" AOE_NBD_IDENTITY="$id" "$tools/aoe-attach" --foreground -i eth0 -t 0.3 \
    --socket "$LAB_DIR/$host.sock" "$@" e1.2 >/dev/null 2>>"$LAB_DIR/attach-$host.log"
  pid=$LAB_LAST_PID
  for _ in $(seq 100); do [ -S "$LAB_DIR/$host.sock" ] && return 0; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fail "aoe-attach on $host did not start: $(cat "$LAB_DIR/attach-$host.log")"
}
# detach [SIGNAL]: stop $pid and wait for it; a clean stop exits 0
detach() {
  local status=0
  kill "-${1:-TERM}" "$pid"
  { wait "$pid"; } 2>/dev/null || status=$?  # no "Killed" notice for the crash
  [ "${1:-TERM}" != TERM ] || [ "$status" = 0 ] || fail "aoe-attach exited $status on SIGTERM"
}

attach hosta "$ida" --claim
[ "$(current)" = "$ida" ] || fail "claim not written: '$(current)'"

# The same host again: refused, since the first one serves the target; the claim is the first one's.
expect_status 1 lab_in hosta env AOE_NBD_IDENTITY="$ida" "$tools/aoe-attach" --foreground -i eth0 -t 0.3 \
  --socket "$LAB_DIR/hosta-second.sock" --claim e1.2
[[ $err == *"already served"* ]] || fail "second attach on hosta: $err"
[ "$(current)" = "$ida" ] || fail "the refused second attach released the first one's claim: '$(current)'"

expect_status 7 lab_in hostb env "$(run_env hostb)" AOE_NBD_IDENTITY="$idb" "$tools/aoe-attach" --foreground -i eth0 -t 0.3 \
  --socket "$LAB_DIR/hostb.sock" --claim e1.2
[[ $err == *"$ida"* ]] || fail "refusal does not name the holder: $err"
[[ $err == *"--force-claim"* ]] || fail "refusal does not say how to override: $err"
[ ! -S "$LAB_DIR/hostb.sock" ] || fail "refused aoe-attach serves anyway"
[ "$(current)" = "$ida" ] || fail "refused claim changed the string"

detach
[ "$(current)" = "" ] || fail "clean detach did not release: '$(current)'"

attach hosta "$ida" --claim --keep-claim
detach
[ "$(current)" = "$ida" ] || fail "--keep-claim released: '$(current)'"

# Same identity again over its own claim, then a crash (SIGKILL): the claim stays.
attach hosta "$ida" --claim
detach KILL
[ "$(current)" = "$ida" ] || fail "claim gone after a crash: '$(current)'"

attach hostb "$idb" --force-claim  # implies --claim
[ "$(current)" = "$idb" ] || fail "--force-claim did not take over: '$(current)'"
detach
[ "$(current)" = "" ] || fail "hostb's detach did not release: '$(current)'"

# Kernel mode fails here after the claim: no genl "nbd" in a namespace, and
# /dev/nbd999999 does not exist for the ioctls (nor does /dev/nbd0 without
# the module).  The claim must not outlive the failed attach.
rc=0
lab_in hosta env AOE_NBD_IDENTITY="$ida" "$tools/aoe-attach" --foreground -i eth0 -t 0.3 --claim \
  --device /dev/nbd999999 e1.2 >/dev/null 2>"$LAB_DIR/kernel.err" || rc=$?
[ "$rc" != 0 ] || fail "kernel attach to /dev/nbd999999 succeeded"
# Failed at the kernel, so after the claim was written: its release is what is tested.
grep -q "cannot attach e1.2 to the kernel" "$LAB_DIR/kernel.err" ||
  fail "kernel attach failed (exit $rc) before reaching the kernel: $(cat "$LAB_DIR/kernel.err")"
[ "$(current)" = "" ] || fail "failed kernel attach (exit $rc) left its claim: '$(current)': $(cat "$LAB_DIR/kernel.err")"

# Claim lost while serving: hostb forces its claim with aoe-cfg; the next
# rediscovery (every second) refuses hosta's writes and keeps its reads, and
# aoe-stat says so; ours again lets writes through; hosta's clean detach
# leaves hostb's claim.
claim_state() {  # what aoe-stat --json says of hosta's claim
  "$tools/aoe-stat" --json e1.2 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
doc = doc[0] if isinstance(doc, list) else doc
print(doc.get("claim", ""))' 2>/dev/null || true
}
wait_claim() {
  for _ in $(seq 100); do [ "$(claim_state)" = "$1" ] && return 0; sleep 0.1; done
  fail "aoe-stat never showed the claim $1 (last: '$(claim_state)'): $(cat "$LAB_DIR/attach-hosta.log")"
}
nbd() { PATH=/usr/bin:$PATH nbdsh -u "nbd+unix:///?socket=$LAB_DIR/hosta.sock" -c "$1"; }
force_claim() {  # force_claim ID: aoe-cfg --force-claim as that identity
  expect_status 0 lab_in hostb env AOE_NBD_IDENTITY="$1" "$tools/aoe-cfg" -t 0.3 --force-claim e1.2
}
attach hosta "$ida" --claim --rediscover 1
wait_claim ours
nbd 'h.pwrite(b"\x5a" * 4096, 0)' || fail "write with the claim held failed"
force_claim "$idb"
wait_claim lost
grep -q "claim lost.*$idb" "$LAB_DIR/attach-hosta.log" || fail "no warning naming the holder: $(cat "$LAB_DIR/attach-hosta.log")"
if nbd 'h.pwrite(b"\x77" * 4096, 0)' 2>"$LAB_DIR/write.err"; then fail "write served with the claim lost"; fi
grep -qi "not permitted" "$LAB_DIR/write.err" || fail "lost claim: write failed otherwise: $(cat "$LAB_DIR/write.err")"
nbd 'assert h.pread(4096, 0) == b"\x5a" * 4096' || fail "read failed with the claim lost"
nbd 'h.flush()' || fail "flush failed with the claim lost"
force_claim "$ida"
wait_claim ours
grep -q "writes resume" "$LAB_DIR/attach-hosta.log" || fail "no notice that writes resume"
nbd 'h.pwrite(b"\x77" * 4096, 0); assert h.pread(4096, 0) == b"\x77" * 4096' || fail "write after the claim came back failed"
force_claim "$idb"
wait_claim lost
detach
[ "$(current)" = "$idb" ] || fail "hosta's detach cleared hostb's claim: '$(current)'"
expect_status 0 lab_in hostb env AOE_NBD_IDENTITY="$idb" "$tools/aoe-cfg" -t 0.3 --release-claim e1.2
[ "$(current)" = "" ] || fail "hostb's release left '$(current)'"

# Without --claim nothing is written.
attach hosta "$ida"
[ "$(current)" = "" ] || fail "attach without --claim wrote '$(current)'"
detach

# Two hosts of one image (an initramfs names both "(none)", a clone shares
# the machine-id): here both namespaces share this machine's host name and
# /etc/machine-id, and no AOE_NBD_IDENTITY stands in.  Their NICs tell them
# apart: the second is refused, naming the first.
attach hosta "" --claim
mine=$(current)
[[ $mine == "aoe-nbd:$(hostname):"*":$(host_mac hosta | tr -d :)" ]] || fail "identity without hosta's MAC: '$mine'"
expect_status 7 lab_in hostb env "$(run_env hostb)" AOE_NBD_IDENTITY= "$tools/aoe-attach" --foreground -i eth0 \
  -t 0.3 --socket "$LAB_DIR/hostb.sock" --claim e1.2
[[ $err == *"$mine"* ]] || fail "same host name and machine-id: refusal does not name hosta's claim: $err"
[ ! -S "$LAB_DIR/hostb.sock" ] || fail "hostb serves beside hosta"
detach
[ "$(current)" = "" ] || fail "hosta's detach did not release: '$(current)'"
echo PASS
