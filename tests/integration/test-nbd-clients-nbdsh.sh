#!/usr/bin/env bash
# The bridge's own validation (libnbd strict mode off): range, flags, read-only.
. "$(dirname "$0")/test-nbd-common.sh"
lab_require_tools nbdsh

start_server rw
PATH=/usr/bin:$PATH nbdsh -u "$uri" -c '
import errno
h.set_strict_mode(0)
size = h.get_size()

def expect(err, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except nbd.Error as e:
        assert e.errnum == err, (fn.__name__, args, e.errnum, e)
        return
    raise AssertionError("%s%r succeeded" % (fn.__name__, args))

expect(errno.EINVAL, h.pread, 512, size)
expect(errno.EINVAL, h.pread, 512, size - 256)
expect(errno.EINVAL, h.pread, 1, 1 << 63)
expect(errno.ENOSPC, h.pwrite, b"x" * 512, size - 256)
expect(errno.ENOSPC, h.zero, 1024, size - 512)
expect(errno.EINVAL, h.pread, 512, 0, flags=1 << 7)        # unknown flag
expect(errno.EINVAL, h.pread, 512, 0, flags=nbd.CMD_FLAG_NO_HOLE)  # flag of another command
expect(errno.EINVAL, h.trim, 4096, 0)                     # not advertised
expect(errno.ENOTSUP, h.zero, 4096, 0, flags=nbd.CMD_FLAG_FAST_ZERO)
# zero-length requests succeed
h.pwrite(b"", 0)
assert h.pread(0, 0) == b""
# the connection is still good after all that
h.pwrite(b"\x42" * 1000, 12345)
assert h.pread(1000, 12345) == b"\x42" * 1000
h.flush()
h.shutdown()
'

start_server ro --read-only
PATH=/usr/bin:$PATH nbdsh -u "$uri" -c '
import errno
h.set_strict_mode(0)
for fn, args in ((h.pwrite, (b"x" * 512, 0)), (h.zero, (512, 0)), (h.trim, (512, 0))):
    try:
        fn(*args)
        raise AssertionError("write on a read-only export succeeded")
    except nbd.Error as e:
        assert e.errnum == errno.EPERM, (fn.__name__, e.errnum, e)
assert len(h.pread(4096, 0)) == 4096
h.shutdown()
'
echo PASS
