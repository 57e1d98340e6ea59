#!/usr/bin/env bash
# qemu-io's unaligned pattern writes go through the bridge's read-modify-write.
. "$(dirname "$0")/test-nbd-common.sh"
lab_require_tools qemu-io

start_server rw
qio() { qemu-io -f raw "$uri" "$@" | tee -a "$workdir/log"; }
qio -c 'write -P 0x11 0 64k' -c 'write -P 0xab 1000 3000' \
    -c 'read -P 0x11 0 1000' -c 'read -P 0xab 1000 3000' -c 'read -P 0x11 4000 61536' \
    -c 'write -P 0xcd 511 2' -c 'read -P 0xcd 511 2' -c 'read -P 0x11 0 511' \
    -c 'write -z 100 50000' -c 'read -P 0 100 50000' -c 'read -P 0x11 50100 15436' \
    -c 'flush' -c 'write -f -P 0x5a 4096 4096' -c 'read -P 0x5a 4096 4096' \
    -c 'aio_write -P 0x21 1M 4k' -c 'aio_write -P 0x22 1M 4k' -c 'aio_flush' -c 'read -P 0x22 1M 4k'
! grep -q -i -e 'fail' -e 'error' -e 'pattern verification' "$workdir/log" || fail "qemu-io reported an error"
echo PASS
