#!/bin/bash
# test-kernel-ublk-fallback.sh: test-kernel-ublk.sh on a guest kernel without
# ublk_drv, where it checks the fallback to /dev/nbdN and the exit 6 of an
# explicit --kernel-device ublk (tests/vm/CMakeLists.txt names tests by script).
exec "$(dirname "$0")/test-kernel-ublk.sh" "$@"
