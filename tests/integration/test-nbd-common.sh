# test-nbd-common.sh: sourced by the test-nbd-clients-*.sh scripts.
#
# NBD_SERVER_CMD is the server under test, one command line: the scripts
# append `--socket PATH` (and `--read-only` where they need a read-only
# export) and wait for the socket.  Default in ctest: nbd-memory-server; the
# AoE engine against vblade takes its place by changing this one variable.
# The export must be at least 64 MiB; the scripts ask its size with nbdinfo.
# A server that exits non-zero after SIGTERM (sanitizer report, leak) fails.
# A server with a backing file (vblade-server) links it at
# $NBD_SERVER_BACKING, which start_server names; with NBD_EXPECT_BACKING=1
# (set by ctest for those servers) backing_file insists on it.
set -euo pipefail

: "${NBD_SERVER_CMD:?set NBD_SERVER_CMD to the NBD server command}"

fail() { echo "FAIL: $*" >&2; exit 1; }

# lab_require_tools TOOL...: exit 77 (ctest SKIP) unless every tool is there.
# shellcheck source=../../scripts/lab.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab.sh"

workdir=$(mktemp -d)
server_pids=()

cleanup() {
  local status=$? pid
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait "$pid"; then echo "FAIL: server $pid exited with an error" >&2; status=1; fi
  done
  rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT

# start_server NAME [ARGS...]: serves on $workdir/NAME.sock; sets $uri and $sock.
start_server() {
  local name=$1; shift
  sock=$workdir/$name.sock
  backing=$workdir/$name.backing
  # shellcheck disable=SC2086  # NBD_SERVER_CMD is a command line
  NBD_SERVER_BACKING=$backing $NBD_SERVER_CMD --socket "$sock" "$@" &
  server_pids+=($!)
  local i
  for i in $(seq 200); do
    [ -S "$sock" ] && break
    if ! kill -0 "${server_pids[-1]}" 2>/dev/null; then
      # A server that cannot run here (vblade-server without root or
      # vblade) exits 77 having said why: this test is skipped, not failed.
      local status=0
      wait "${server_pids[-1]}" || status=$?
      unset 'server_pids[-1]'
      [ "$status" = 77 ] && exit 77
      fail "server did not start (exit $status): $NBD_SERVER_CMD"
    fi
    sleep 0.05
  done
  [ -S "$sock" ] || fail "server socket $sock never appeared"
  uri="nbd+unix:///?socket=$sock"
}

# backing_file: echo the file the last started server stores the export in,
# or nothing if it has none (the memory server).
backing_file() {
  if [ -e "$backing" ]; then
    echo "$backing"
  elif [ "${NBD_EXPECT_BACKING:-0}" = 1 ]; then
    fail "the server published no backing file at $backing"
  fi
}
