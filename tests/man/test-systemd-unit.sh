#!/usr/bin/env bash
# test-systemd-unit.sh UNIT AOE_ATTACH SOURCE_DIR: the configured
# aoe-attach@.service passes `systemd-analyze verify` (pointed at the built
# aoe-attach and the pages in man/), is Type=notify, orders after
# network.target and not network-online.target, refuses non-canonical
# instances with --exact-name, and does not restart on the exit codes that
# do not heal (daemon/exit_codes.h: 2, 3, 4, 6, 7).
set -euo pipefail
unit=$1 attach=$2 src=$3
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aoe-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/man/man8"
ln -s "$src"/man/*.8 "$tmp/man/man8/"
sed -E "s|^ExecStart=[^ ]*/aoe-attach |ExecStart=$attach |" "$unit" >"$tmp/aoe-attach@.service"
MANPATH=$tmp/man systemd-analyze verify "$tmp/aoe-attach@.service" >"$tmp/verify" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$tmp/verify")"
[ ! -s "$tmp/verify" ] || fail "systemd-analyze verify complains: $(cat "$tmp/verify")"

key() { sed -n "s/^$1=//p" "$unit"; }
[ "$(key Type)" = notify ] || fail "Type=$(key Type), want notify"
! grep -qE "^(After|Wants|Requires)=.*network-online" "$unit" || fail "the unit still waits for network-online.target"
[[ " $(key After) " == *" network.target "* ]] || fail "After=$(key After) lacks network.target"
[[ $(key ExecStart) == *" --foreground --exact-name "*"%i" ]] || fail "ExecStart=$(key ExecStart)"
[ "$(key RestartPreventExitStatus)" = "2 3 4 6 7" ] ||
  fail "RestartPreventExitStatus=$(key RestartPreventExitStatus), want 2 3 4 6 7"
[ "$(key Restart)" = on-failure ] || fail "Restart=$(key Restart)"
echo PASS
