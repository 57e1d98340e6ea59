#!/usr/bin/env bash
# test-install-destdir.sh BUILD_DIR TOOL...: `cmake --install` of the built
# tree into a scratch DESTDIR puts the programs in sbin, the pages in
# share/man/man8, the systemd unit in lib/systemd/system, the udev rule and
# its helper in lib/udev, and the initramfs pieces where the build says the
# generators look, all inside DESTDIR (scripts/check-install checks a
# user's build with default options, and a --prefix alone).
set -uo pipefail
build=$1; shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aoe-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
bad() { echo "FAIL: $*"; status=1; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
under() { case $1 in /*) echo "$tmp/stage$1" ;; *) echo "$prefix/$1" ;; esac; }

[ -f "$build/cmake_install.cmake" ] || { echo "SKIP: $build is not configured"; exit 77; }
prefix=$tmp/stage$(cache CMAKE_INSTALL_PREFIX)
if DESTDIR=$tmp/stage cmake --install "$build" >"$tmp/install.log" 2>&1; then
  for tool in "$@"; do
    [ -x "$prefix/sbin/$tool" ] || bad "cmake --install put no sbin/$tool"
    [ -f "$prefix/share/man/man8/$tool.8" ] || bad "cmake --install put no share/man/man8/$tool.8"
  done
  [ -f "$prefix/lib/systemd/system/aoe-attach@.service" ] ||
    bad "cmake --install put no lib/systemd/system/aoe-attach@.service"
  [ -f "$prefix/lib/udev/rules.d/60-aoe-nbd.rules" ] && [ -x "$prefix/lib/udev/aoe_nbd_id" ] ||
    bad "cmake --install put no lib/udev/rules.d/60-aoe-nbd.rules with lib/udev/aoe_nbd_id"
  itools=$(under "$(cache AOE_INITRAMFS_TOOLS_DIR)") dracut=$(under "$(cache AOE_DRACUT_MODULES_DIR)")
  [ -x "$itools/hooks/aoe-nbd" ] || bad "cmake --install put no initramfs-tools hook in $itools"
  [ -f "$dracut/90aoe-nbd/module-setup.sh" ] || bad "cmake --install put no dracut module in $dracut"
else
  bad "cmake --install failed:"; sed 's/^/    /' "$tmp/install.log"
fi

[ "$status" = 0 ] && echo "PASS: $# tools installed"
exit "$status"
