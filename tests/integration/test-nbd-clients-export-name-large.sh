#!/usr/bin/env bash
# A client that never learned our maximum payload: it selects the export
# with NBD_OPT_EXPORT_NAME (as nbd-tester-client does), so no block sizes
# reach it, and sends a 49 MiB WRITE and a 49 MiB READ.  Both are served,
# split below the engine's limit (nbd-bridge/block_adapter.h); an ordinary
# client, which learns the 32 MiB maximum, reads the same data back, and so
# does the backing file where there is one.
. "$(dirname "$0")/test-nbd-common.sh"
lab_require_tools nbdsh

start_server rw
export NBD_TEST_SOCKET=$sock NBD_TEST_OFFSET=$((3 * 1024 * 1024 + 4096)) NBD_TEST_LENGTH=$((49 << 20))
pattern='
import os
offset, length = int(os.environ["NBD_TEST_OFFSET"]), int(os.environ["NBD_TEST_LENGTH"])
# Each 8-byte word holds its own offset in the export: a part written or
# read at the wrong place cannot match.
data = b"".join((offset + i).to_bytes(8, "little") for i in range(0, length, 8))
'
PATH=/usr/bin:$PATH nbdsh -c "$pattern" -c '
h.set_handshake_flags(0)  # no FIXED_NEWSTYLE: libnbd can only select the export with EXPORT_NAME
h.set_strict_mode(0)      # nor may libnbd refuse what it has no limit for
h.connect_unix(os.environ["NBD_TEST_SOCKET"])
assert h.get_block_size(nbd.SIZE_MAXIMUM) == 0, "the client was told a maximum"
h.pwrite(data, offset)
assert h.pread(length, offset) == data, "one 49 MiB read differs from the 49 MiB written"
h.shutdown()
'

PATH=/usr/bin:$PATH nbdsh -u "$uri" -c "$pattern" -c '
maximum = h.get_block_size(nbd.SIZE_MAXIMUM)
assert maximum == 32 << 20, maximum  # what we advertise to clients that ask
got = b"".join(h.pread(min(maximum, length - at), offset + at) for at in range(0, length, maximum))
assert got == data, "ordinary reads differ from the large write"
h.shutdown()
'

image=$(backing_file)
if [ -n "$image" ]; then
  NBD_TEST_IMAGE=$image PATH=/usr/bin:$PATH python3 -c "$pattern"'
with open(os.environ["NBD_TEST_IMAGE"], "rb") as f:
    f.seek(offset)
    assert f.read(length) == data, "the backing file differs from the large write"
'
fi
echo PASS
