#!/usr/bin/env bash
# test-discover-two-nics: aoe-discover against real vblade in network
# namespaces.  Two targets (e1.2, e1.3; different sizes) served on both of
# two veth pairs, at MTU 1500 and 9000: every target with its exact size and
# both paths with the right MACs; a target filter; zero targets.
#   test-discover-two-nics.sh AOE_DISCOVER
set -euo pipefail
discover=${1:?usage: $0 path/to/aoe-discover}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
source "$here/../../scripts/lab.sh"
lab_require vblade jq

fail() { echo "FAIL: $*" >&2; exit 1; }
mac_of() { ip -n "$(lab_nsname "$1")" -o link show "$2" | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p'; }

check_mtu() {
  local mtu=$1 payload=$2
  lab_init "disc$mtu"
  lab_wire i bi0 t bt0 "$mtu"
  lab_wire i bi1 t bt1 "$mtu"
  local img2 img3
  img2=$(lab_image e1.2 256M)
  img3=$(lab_image e1.3 100M)
  for ifc in bt0 bt1; do
    lab_vblade t "$ifc" 1 2 "$img2"
    lab_vblade t "$ifc" 1 3 "$img3"
  done
  local mac0 mac1 out
  mac0=$(mac_of t bt0)
  mac1=$(mac_of t bt1)

  out=$(lab_in i "$discover" --json -i bi0 -i bi1) || fail "aoe-discover exited $?"
  [ "$(jq length <<<"$out")" = 2 ] || fail "MTU $mtu: want 2 targets, got: $out"
  for t in e1.2:268435456 e1.3:104857600; do
    jq -e --arg t "${t%%:*}" --argjson size "${t#*:}" --arg m0 "$mac0" --arg m1 "$mac1" \
       --argjson mtu "$mtu" --argjson payload "$payload" '
      .[] | select(.target == $t)
      | .size_bytes == $size and .sectors == ($size / 512) and .shelf == 1
        and .payload_bytes == $payload and .bufcnt > 0 and .model != ""
        and ([.paths[] | "\(.interface) \(.mac) \(.mtu)"] | sort)
            == (["bi0 \($m0) \($mtu)", "bi1 \($m1) \($mtu)"] | sort)' <<<"$out" >/dev/null \
      || fail "MTU $mtu: ${t%%:*} wrong: $out"
  done

  # Exactly the documented keys, and IDENTIFY as vblade fills it (ata.c:
  # its model string, serial "SHELF.SLOT:hostname" in 20 characters).
  jq -e '[.[] | keys] | unique == [["aoe_version", "bufcnt", "config_string", "firmware", "lba48",
          "max_sectors", "model", "paths", "payload_bytes", "sectors", "serial", "shelf", "size_bytes",
          "slot", "target"]]' <<<"$out" >/dev/null || fail "MTU $mtu: keys differ from the documented set: $out"
  jq -e --arg host "$(hostname)" '
    all(.[]; .model == "Coraid EtherDrive vblade" and .lba48 and .config_string == ""
             and .serial == ("\(.shelf).\(.slot):\($host)" | .[:20]))' <<<"$out" >/dev/null ||
    fail "MTU $mtu: IDENTIFY fields are not vblade's: $out"

  out=$(lab_in i "$discover" --json -i bi0,bi1 e1.3) || fail "filtered run exited $?"
  [ "$(jq -c '[.[].target]' <<<"$out")" = '["e1.3"]' ] || fail "filter e1.3: $out"

  # The table: one line per target, sizes as aoe-stat prints them.
  out=$(lab_in i "$discover" -i bi0 -i bi1)
  grep -qx "e1.2  268.435MB  bi0,bi1  $payload  up" <<<"$out" || fail "table: $out"
  lab_cleanup
}

check_mtu 1500 1024
check_mtu 9000 8704
echo PASS
