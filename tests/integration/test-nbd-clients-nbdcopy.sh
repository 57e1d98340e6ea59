#!/usr/bin/env bash
# nbdcopy writes tens of MiB through the bridge and reads them back intact,
# over several connections and many requests in flight, and the server's
# backing file (vblade's image) holds exactly what was written.
. "$(dirname "$0")/test-nbd-common.sh"
lab_require_tools nbdcopy nbdinfo cmp

start_server rw
size=$(nbdinfo --size "$uri")
head -c $((48 << 20)) /dev/urandom > "$workdir/in"
truncate -s "$size" "$workdir/in"
nbdcopy --connections=4 --requests=32 "$workdir/in" "$uri"
nbdcopy --connections=4 "$uri" "$workdir/out"
cmp "$workdir/in" "$workdir/out" || fail "data differs after round trip"
# A round trip can hide a consistent error (an offset off on both ways): the target's own file must agree.
image=$(backing_file)
[ -z "$image" ] || cmp "$workdir/in" "$image" || fail "the backing file $image differs from what was written"
# Zeroes: nbdcopy probes FAST_ZERO and falls back to WRITE_ZEROES.
head -c "$size" /dev/zero > "$workdir/zero"
nbdcopy "$workdir/zero" "$uri"
nbdcopy "$uri" "$workdir/out"
cmp "$workdir/zero" "$workdir/out" || fail "not zero after zeroing"
[ -z "$image" ] || cmp "$workdir/zero" "$image" || fail "the backing file $image is not zero after zeroing"
echo PASS
