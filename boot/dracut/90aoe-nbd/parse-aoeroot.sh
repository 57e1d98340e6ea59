#!/bin/sh
# dracut cmdline hook (sourced): aoeroot=eS.L[,IFACE...], or the aBFT's
# target, queues the attach; aoeroot.timeout= and aoeroot.opts= as for
# aoe-nbd-root.  root= stays the block device the generic code waits for.
aoeroot=$(getarg aoeroot=)
[ -n "$aoeroot" ] || aoeroot=$(/sbin/aoe-nbd-root --abft-target 2> /dev/null) || aoeroot=
if [ -n "$aoeroot" ]; then
    modprobe -q nbd || die "aoeroot=$aoeroot: no nbd module in the initramfs"
    /sbin/initqueue --settled --onetime --unique --name aoe-nbd-root \
        /sbin/aoe-nbd-root-start "$aoeroot" "$(getarg aoeroot.timeout=)" "$(getarg aoeroot.opts=)"
    echo '[ -e /run/aoe-nbd/device ]' > "$hookdir/initqueue/finished/aoe-nbd-root.sh"
fi
