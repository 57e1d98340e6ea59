# tests/vm/guest-prepare.sh, sourced by the guest tests that run a lab of
# namespaces inside the guest.
#
#   guest_prepare TOOL...  every TOOL (a path or a command) is there, or
#                          FAIL; ext4 is loaded; the kernel's own aoe driver
#                          is unloaded (it would claim the lab's targets on
#                          the root namespace's wire and make
#                          /dev/etherd/eS.L block nodes of its own); scratch
#                          files go to guest RAM (/run), never the 9p share
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
