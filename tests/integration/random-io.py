#!/usr/bin/python3
"""random-io.py URI BACKING_FILE [SEED] [OPS]

Random reads and writes of assorted sizes and alignments through an NBD
export, checked against a shadow copy; at the end the target's backing file
must equal the shadow byte for byte.  Exit 0 on success.
"""
import random
import sys

import nbd


def main():
    uri, backing = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    ops = int(sys.argv[4]) if len(sys.argv) > 4 else 400
    rng = random.Random(seed)
    h = nbd.NBD()
    # We advertise a 512-byte minimum block size but serve any alignment by
    # read-modify-write: let libnbd send unaligned requests.
    h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
    h.connect_uri(uri)
    size = h.get_size()
    with open(backing, "rb") as f:
        shadow = bytearray(f.read(size))
    if len(shadow) != size:
        sys.exit(f"backing file is {len(shadow)} bytes, export is {size}")
    for i in range(ops):
        if rng.random() < 0.5:  # sector-aligned
            length = rng.randint(1, 512) * 512
            offset = rng.randrange(0, (size - length) // 512 + 1) * 512
        else:                   # any alignment
            length = rng.randint(1, 300000)
            offset = rng.randrange(0, size - length + 1)
        if rng.random() < 0.5:
            data = rng.randbytes(length)
            h.pwrite(data, offset)
            shadow[offset:offset + length] = data
        else:
            got = h.pread(length, offset)
            if got != shadow[offset:offset + length]:
                sys.exit(f"op {i}: read of {length} bytes at {offset} differs from what was written")
    h.flush()
    h.shutdown()
    with open(backing, "rb") as f:
        disk = f.read(size)
    if disk != shadow:
        first = next(i for i in range(size) if disk[i] != shadow[i])
        sys.exit(f"backing file differs from the data written, first at byte {first}")
    print(f"{ops} random operations on {size} bytes: export and backing file exact")


main()
