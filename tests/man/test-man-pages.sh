#!/usr/bin/env bash
# test-man-pages.sh render SOURCE_DIR TOOL...: every page in man/ renders
# without a warning (man --warnings), and every TOOL (each aoe-* program the
# build makes) has man/TOOL.8.
# test-man-pages.sh options SOURCE_DIR BUILD_DIR TOOL...: each TOOL answers
# --help and --version with status 0, --version names the tool, and every
# long option its --help lists appears in its page man/TOOL.8.
set -uo pipefail
mode=$1 src=$2; shift 2
command -v man >/dev/null || { echo "SKIP: man is not installed"; exit 77; }
export MANWIDTH=80 LC_ALL=C.UTF-8
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aoe-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
bad() { echo "FAIL: $*"; status=1; }

render() {
  pages=("$src"/man/*.8)
  [ -e "${pages[0]}" ] || { bad "no pages in $src/man"; exit 1; }
  for page in "${pages[@]}"; do
    man --warnings -l "$page" >"$tmp/out" 2>"$tmp/err"
    if [ -s "$tmp/err" ]; then
      bad "$(basename "$page") warns:"; sed 's/^/    /' "$tmp/err"
    fi
    [ -s "$tmp/out" ] || bad "$(basename "$page") renders to nothing"
  done
  for tool in "$@"; do
    [ -f "$src/man/$tool.8" ] || bad "$tool has no man page (man/$tool.8)"
  done
  [ "$status" = 0 ] && echo "PASS: ${#pages[@]} pages, $# tools"
}

options() {
  local build=$1; shift
  for tool in "$@"; do
    page=$src/man/$tool.8
    [ -f "$page" ] || { bad "$tool has no man page (man/$tool.8)"; continue; }
    bin=$build/tools/$tool
    [ -x "$bin" ] || { bad "$tool is not built ($bin)"; continue; }
    "$bin" --help >"$tmp/help" 2>&1 || bad "$tool --help exits $?"
    "$bin" --version >"$tmp/version" 2>&1 || bad "$tool --version exits $?"
    grep -q "^$tool " "$tmp/version" || bad "$tool --version prints '$(head -1 "$tmp/version")'"
    man -l "$page" 2>/dev/null | col -b >"$tmp/page"
    for opt in $(grep -oE -- '--[a-z][a-z0-9-]+' "$tmp/help" | sort -u); do
      grep -qF -- "$opt" "$tmp/page" || bad "$tool: $opt is in --help but not in man/$tool.8"
    done
  done
  [ "$status" = 0 ] && echo "PASS: $# tools"
}

case $mode in
  render | options) "$mode" "$@" ;;
  *) echo "usage: $0 render|options ..." >&2; exit 2 ;;
esac
exit "$status"
