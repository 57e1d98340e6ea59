#!/usr/bin/env bash
# test-args-refusals.sh TOOLS_DIR: arguments that would quietly widen what a
# command touches, or that no range check catches, are refused by every
# tool with exit 2, a message naming the accepted form or range, a syslog
# priority on every line, and not one AoE frame sent:
#  - empty interface names: -i "", -i ",", -i "eth0," (would mean every NIC);
#  - empty paths: --socket "" (would mean a kernel attach), --device "";
#  - NaN, infinite and non-numeric numbers: --deadline, -t, --rediscover;
#  - target names out of range (e70000.1) or not a target (aoe-stat e1).
# A capture on the far end of the only wire (dumpcap, in the test's
# namespaces) sees nothing; then aoe-discover's broadcast shows it would have.
set -euo pipefail
tools=${1:?usage: $0 TOOLS_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
for t in dumpcap tshark; do command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/install-deps)"; exit 77; }; done

lab_init refuse
lab_wire i ei0 t et0

# capture_start FILE / capture_stop: AoE frames arriving at et0.
capture_start() {
  CAPTURE_FILE=$1
  lab_bg t dumpcap -q -i et0 -f "ether proto 0x88a2" -w "$CAPTURE_FILE" 2>"$CAPTURE_FILE.log"
  CAPTURE_PID=$LAB_LAST_PID
  for _ in $(seq 100); do grep -q "Capturing on" "$CAPTURE_FILE.log" 2>/dev/null && return 0; sleep 0.1; done
  fail "dumpcap did not start: $(cat "$CAPTURE_FILE.log")"
}
capture_stop() {   # echoes the number of frames captured
  kill -INT "$CAPTURE_PID"
  wait "$CAPTURE_PID" 2>/dev/null || true
  tshark -r "$CAPTURE_FILE" 2>/dev/null | wc -l
}

# refuse WANT_IN_MESSAGE TOOL ARGS...: exit 2, the message says WANT, every
# line of stderr has a syslog priority, nothing on stdout.
refuse() {
  local want=$1 tool=$2 rc=0 out err; shift 2
  out=$(lab_in i "$tools/$tool" "$@" 2>"$LAB_DIR/err") || rc=$?
  err=$(cat "$LAB_DIR/err")
  [ "$rc" = 2 ] || fail "$tool $*: exit $rc, want 2 ($err)"
  [ -z "$out" ] || fail "$tool $*: printed '$out' on stdout"
  [[ $err == *"$want"* ]] || fail "$tool $*: the message does not say '$want': $err"
  [[ $err != *"not in range"* ]] || fail "$tool $*: the message says 'not in range': $err"
  ! grep -qv '^<[0-7]>' <<<"$err" || fail "$tool $*: a line without a syslog priority: $err"
  echo "refused: $tool $* -> $(head -n1 <<<"$err")"
}

sock=$LAB_DIR/e1.2.sock
empty="empty interface name"
capture_start "$LAB_DIR/refusals.pcapng"
for i in "" "," "ei0," ",ei0" "ei0,,ei0"; do
  refuse "$empty" aoe-discover -t 0.2 -i "$i"
  refuse "$empty" aoe-attach -t 0.2 -i "$i" --foreground --socket "$sock" e1.2
  refuse "$empty" aoe-attach -t 0.2 -i "$i" e1.2
  refuse "$empty" aoe-cfg -t 0.2 -i "$i" --force x e1.2
  refuse "$empty" aoe-mask -t 0.2 -i "$i" e1.2 add 02:00:00:00:00:01
  refuse "$empty" aoe-reserve -t 0.2 -i "$i" e1.2 force
done
refuse "path is empty" aoe-attach -i ei0 --socket "" e1.2
refuse "path is empty" aoe-attach -i ei0 --device "" e1.2
for n in nan -nan inf -inf infinity abc 1x ""; do
  refuse "number of seconds from 0 to 86400" aoe-attach -i ei0 --socket "$sock" --deadline "$n" e1.2
  refuse "number of seconds from 0.1 to 60" aoe-attach -i ei0 --socket "$sock" -t "$n" e1.2
  refuse "number of seconds" aoe-discover -i ei0 -t "$n"
  refuse "number of seconds" aoe-cfg -i ei0 -t "$n" e1.2
  refuse "number of seconds" aoe-mask -i ei0 -t "$n" e1.2
  refuse "number of seconds" aoe-reserve -i ei0 -t "$n" e1.2
  refuse "number of seconds" aoe-stat -t "$n"
  refuse "number of seconds" aoe-detach -t "$n" e1.2
done
refuse "whole number of seconds from 1 to 86400" aoe-attach -i ei0 --rediscover abc e1.2
refuse "whole number of connections from 1 to 16" aoe-attach -i ei0 --connections nan e1.2
for tool in aoe-attach aoe-cfg aoe-mask aoe-reserve aoe-stat aoe-detach; do
  refuse "shelf 0-65534 and slot 0-254" "$tool" e70000.1
done
refuse "shelf 0-65534 and slot 0-254" aoe-discover -i ei0 -t 0.2 e1.256
refuse "shelf 0-65534 and slot 0-254" aoe-stat e1
frames=$(capture_stop)
[ "$frames" = 0 ] || fail "$frames AoE frame(s) went out while refusing"

# The capture sees what a tool that is not refused sends.
capture_start "$LAB_DIR/control.pcapng"
lab_in i "$tools/aoe-discover" -i ei0 -t 0.2 >/dev/null
frames=$(capture_stop)
[ "$frames" -gt 0 ] || fail "the capture saw none of aoe-discover's frames: it would not have seen a leak either"
echo "no frame sent by any refusal; aoe-discover's $frames frame(s) were seen"
echo PASS
