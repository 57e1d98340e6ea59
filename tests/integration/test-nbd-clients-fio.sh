#!/usr/bin/env bash
# fio's nbd engine: random writes of mixed sizes, deep queue, crc32c-verified.
. "$(dirname "$0")/test-nbd-common.sh"
lab_require_tools fio
fio --enghelp 2>/dev/null | grep -qx '[[:space:]]*nbd' || lab_skip "fio has no nbd engine"

start_server rw
cd "$workdir"  # fio leaves verify state files in the working directory
fio --name=verify --ioengine=nbd --uri="$uri" --size=32M \
    --rw=randwrite --bsrange=512-128k --iodepth=32 --verify=crc32c --verify_fatal=1 \
    --do_verify=1 --output="$workdir/fio.log" || { cat "$workdir/fio.log"; fail fio; }
fio --name=mixed --ioengine=nbd --uri="$uri" --size=32M --rw=randrw --bs=4k \
    --iodepth=64 --time_based --runtime=3 --output="$workdir/fio2.log" || { cat "$workdir/fio2.log"; fail fio; }
echo PASS
