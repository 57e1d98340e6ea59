#!/bin/sh
# Run from dracut's initqueue: attach the root's AoE target, or stop the boot
# with the reason.  dracut-initqueue.service kills only its main process, so
# aoe-attach, in the background, lives on.
. /lib/dracut-lib.sh
/sbin/aoe-nbd-root "$1" "${2:-60}" "$3" > /dev/null || die "aoeroot=$1: cannot attach the root's AoE target"
# Shut down from the initramfs (module-setup.sh, depends).
need_shutdown
