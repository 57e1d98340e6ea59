#!/usr/bin/env bash
# test-systemd-unit.sh UNIT AOE_ATTACH SOURCE_DIR ALL_UNIT: the configured
# aoe-attach@.service and aoe-attach-all.service pass `systemd-analyze
# verify` (pointed at the built aoe-attach and the pages in man/), are
# Type=notify with only the main process heard, order after network.target
# and not network-online.target, and do not restart on the exit codes that
# do not heal (daemon/exit_codes.h: 2, 3, 4, 6, and 7 for one target: the
# supervisor of --all gives up on a claimed target alone).  The template
# refuses non-canonical instances with --exact-name; the other runs
# aoe-attach --all in the foreground and sends SIGTERM to it alone, which
# passes it on (docs/shelf.md).
set -euo pipefail
unit=$1 attach=$2 src=$3 all_unit=$4
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aoe-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/man/man8"
ln -s "$src"/man/*.8 "$tmp/man/man8/"
key() { sed -n "s/^$1=//p" "$u"; }   # a key of the unit being checked
check_common() {  # check_common UNIT RESTART-PREVENT: sets u for key
  local name
  u=$1 name=$(basename "$1")
  sed -E "s|^ExecStart=[^ ]*/aoe-attach |ExecStart=$attach |" "$u" >"$tmp/$name"
  MANPATH=$tmp/man systemd-analyze verify "$tmp/$name" >"$tmp/verify" 2>&1 ||
    fail "$name: systemd-analyze verify: $(cat "$tmp/verify")"
  [ ! -s "$tmp/verify" ] || fail "$name: systemd-analyze verify complains: $(cat "$tmp/verify")"
  [ "$(key Type)" = notify ] || fail "$name: Type=$(key Type), want notify"
  [ "$(key NotifyAccess)" = main ] || fail "$name: NotifyAccess=$(key NotifyAccess), want main"
  ! grep -qE "^(After|Wants|Requires)=.*network-online" "$u" || fail "$name still waits for network-online.target"
  [[ " $(key After) " == *" network.target "* ]] || fail "$name: After=$(key After) lacks network.target"
  [ "$(key RestartPreventExitStatus)" = "$2" ] ||
    fail "$name: RestartPreventExitStatus=$(key RestartPreventExitStatus), want $2"
  [ "$(key Restart)" = on-failure ] || fail "$name: Restart=$(key Restart)"
  [ "$(key KillMode)" = mixed ] || fail "$name: KillMode=$(key KillMode), want mixed"
}
check_common "$unit" "2 3 4 6 7"
[[ $(key ExecStart) == *" --foreground --exact-name "*"%i" ]] || fail "ExecStart=$(key ExecStart)"
check_common "$all_unit" "2 3 4 6"
[[ $(key ExecStart) == *"/aoe-attach --all --foreground \$AOE_ATTACH_OPTS" ]] || fail "ExecStart=$(key ExecStart)"
echo PASS
