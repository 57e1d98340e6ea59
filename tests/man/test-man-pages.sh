#!/usr/bin/env bash
# test-man-pages.sh SOURCE_DIR BUILD_DIR TOOL...: every page in man/ renders
# without a warning (man --warnings), every TOOL (each aoe-* program the
# build makes) has man/TOOL.8, and, when the tools are built, each answers
# --help and --version with status 0 and every long option its --help lists
# appears in its page.  When every tool is built, `cmake --install` into a
# scratch prefix puts the programs in sbin, the pages in share/man/man8,
# the systemd unit in lib/systemd/system and the udev rule and its helper
# in lib/udev.
set -uo pipefail
src=$1 build=$2; shift 2
command -v man >/dev/null || { echo "SKIP: man is not installed"; exit 77; }
export MANWIDTH=80 LC_ALL=C.UTF-8
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aoe-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
bad() { echo "FAIL: $*"; status=1; }

pages=("$src"/man/*.8)
[ -e "${pages[0]}" ] || { bad "no pages in $src/man"; exit 1; }
for page in "${pages[@]}"; do
  man --warnings -l "$page" >"$tmp/out" 2>"$tmp/err"
  if [ -s "$tmp/err" ]; then
    bad "$(basename "$page") warns:"; sed 's/^/    /' "$tmp/err"
  fi
  [ -s "$tmp/out" ] || bad "$(basename "$page") renders to nothing"
done

all_built=1
for tool in "$@"; do
  page=$src/man/$tool.8
  [ -f "$page" ] || { bad "$tool has no man page (man/$tool.8)"; continue; }
  bin=$build/tools/$tool
  [ -x "$bin" ] || { all_built=0; echo "note: $tool not built; its --help is not checked"; continue; }
  "$bin" --help >"$tmp/help" 2>&1 || bad "$tool --help exits $?"
  "$bin" --version >"$tmp/version" 2>&1 || bad "$tool --version exits $?"
  grep -q "^$tool " "$tmp/version" || bad "$tool --version prints '$(head -1 "$tmp/version")'"
  man -l "$page" 2>/dev/null | col -b >"$tmp/page"
  for opt in $(grep -oE -- '--[a-z][a-z0-9-]+' "$tmp/help" | sort -u); do
    grep -qF -- "$opt" "$tmp/page" || bad "$tool: $opt is in --help but not in man/$tool.8"
  done
done

if [ "$all_built" = 1 ] && [ -f "$build/cmake_install.cmake" ]; then
  if cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
    for tool in "$@"; do
      [ -x "$tmp/prefix/sbin/$tool" ] || bad "cmake --install put no sbin/$tool"
      [ -f "$tmp/prefix/share/man/man8/$tool.8" ] || bad "cmake --install put no share/man/man8/$tool.8"
    done
    [ -f "$tmp/prefix/lib/systemd/system/aoe-attach@.service" ] ||
      bad "cmake --install put no lib/systemd/system/aoe-attach@.service"
    [ -f "$tmp/prefix/lib/udev/rules.d/60-aoe-nbd.rules" ] && [ -x "$tmp/prefix/lib/udev/aoe_nbd_id" ] ||
      bad "cmake --install put no lib/udev/rules.d/60-aoe-nbd.rules with lib/udev/aoe_nbd_id"
  else
    bad "cmake --install failed:"; sed 's/^/    /' "$tmp/install.log"
  fi
fi

[ "$status" = 0 ] && echo "PASS: ${#pages[@]} pages, $# tools"
exit "$status"
