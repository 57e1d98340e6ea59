# tests/vm/guest-prepare.sh, sourced by the guest tests that run a lab of
# namespaces inside the guest.
#
# Sourcing it names the build tree's tools: $attach, $detach, $stat.
#
#   guest_prepare TOOL...  every TOOL (a path or a command) is there, or
#                          FAIL; ext4 is loaded; the kernel's own aoe driver
#                          is unloaded (it would claim the lab's targets on
#                          the root namespace's wire and make
#                          /dev/etherd/eS.L block nodes of its own); scratch
#                          files go to guest RAM (/run), never the 9p share
#   guest_verify_ro DEV MNT SUMS  mount DEV read-only on MNT, check its files
#                          against SUMS (sha256sum -c), unmount; fails if a
#                          file differs or DEV does not mount
#   guest_report NAME LOG...  for a failure: the tail of each LOG, and the
#                          kernel's log, all of it in
#                          $AOE_BUILD_DIR/NAME.dmesg where the host reads it
attach=$AOE_BUILD_DIR/tools/aoe-attach
detach=$AOE_BUILD_DIR/tools/aoe-detach
stat=$AOE_BUILD_DIR/tools/aoe-stat

guest_prepare() {
  local t
  for t; do
    command -v "$t" >/dev/null || { echo "FAIL: missing $t"; exit 1; }
  done
  modprobe ext4 || true    # preloaded by run-in-vm
  rmmod aoe 2>/dev/null || true
  if lsmod | grep -q '^aoe '; then echo "FAIL: cannot unload the kernel aoe driver"; exit 1; fi
  export TMPDIR=/run
}

guest_verify_ro() {
  local rc=0
  mount -o ro "$1" "$2" || return 1
  (cd "$2" && sha256sum -c --quiet "$3") || rc=1
  umount "$2"
  return "$rc"
}

guest_report() {
  local name=$1 f; shift
  for f; do
    [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
  done
  dmesg >"$AOE_BUILD_DIR/$name.dmesg" 2>&1 || true
  echo "--- dmesg (all of it in $AOE_BUILD_DIR/$name.dmesg)"
  dmesg | grep -v 'EXT4-fs\|Buffer I/O' | tail -n 30
}
