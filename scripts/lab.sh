# scripts/lab.sh: a throwaway AoE lab of network namespaces, sourced by the
# demo, the integration tests and the benchmarks.
#
#   lab_init NAME            start a lab; everything it makes is removed on exit
#   lab_ns HOST              make namespace "$LAB-HOST" (if new)
#   lab_nsname HOST          echo that namespace's name
#   lab_wire HA IFA HB IFB [MTU]
#                            veth pair: IFA in host HA, IFB in host HB, both up
#   lab_wire_root IFR HB IFB veth pair: IFR in the namespace we run in, IFB
#                            in host HB, both up (the kernel tests: the nbd
#                            genl family lives in the initial namespace);
#                            the caller removes IFR
#   lab_vblade HOST IF SHELF SLOT IMAGE [vblade options...]
#                            serve IMAGE as eSHELF.SLOT from HOST on IF
#                            (restarted whenever it exits if
#                            LAB_VBLADE_RESTART is set)
#   lab_image NAME SIZE      sparse file in the lab directory, echo its path
#   lab_in HOST CMD...       run CMD inside HOST's namespace
#   lab_bg HOST CMD...       same, in the background; killed at cleanup
#   lab_signal HOST SIG NAME send SIG to the processes called NAME in HOST's
#                            namespace, and to no other (pkill would reach
#                            every namespace: a test beside this one too)
#   lab_require [TOOL...]    before lab_init in a test: exit 77 (ctest's
#                            SKIP_RETURN_CODE) saying why, unless this is root
#                            able to make network namespaces and every TOOL
#                            is there (python3:MODULE: /usr/bin/python3 imports it)
#   lab_require_tools TOOL...  the tools alone (tests without a lab)
#   lab_skip REASON...       print "SKIP: REASON" and exit 77
#
# Nothing ever touches the machine's real NICs: every interface is created
# directly inside a namespace of this lab.
# shellcheck shell=bash

lab_skip() { echo "SKIP: $*"; exit 77; }

lab_require_tools() {
  local tool
  for tool; do
    case $tool in
      python3:*)
        /usr/bin/python3 -c "import ${tool#python3:}" 2>/dev/null ||
          lab_skip "/usr/bin/python3 cannot import ${tool#python3:} (scripts/install-deps installs it)" ;;
      *) command -v "$tool" >/dev/null || lab_skip "$tool is not installed (scripts/install-deps installs it)" ;;
    esac
  done
}

lab_require() {
  [ "$(id -u)" = 0 ] || lab_skip "a lab of network namespaces needs root"
  command -v ip >/dev/null || lab_skip "ip (iproute2) is not installed"
  # Creating one is the only sure test (a container may forbid it).
  unshare --net true 2>/dev/null || lab_skip "cannot create a network namespace here (unshare --net failed)"
  lab_require_tools "$@"
}

lab_init() {
  LAB="aoe${1:+-$1}-$$"
  LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$LAB.XXXXXX")
  LAB_PIDS=()
  # Status sockets of this lab's aoe-attach (aoe-stat reads the same
  # variable): labs running side by side may all serve e1.2.
  export AOE_RUN_DIR=$LAB_DIR/run
  trap lab_cleanup EXIT
  trap 'exit 130' INT TERM HUP
}

lab_cleanup() {
  local pid ns
  trap - EXIT
  for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LAB_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  for ns in $(ip netns list 2>/dev/null | awk -v p="$LAB-" 'index($1, p) == 1 {print $1}'); do
    # anything still running in the namespace goes with it
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  [ -n "${LAB_DIR:-}" ] && rm -rf "$LAB_DIR"
  LAB_PIDS=()
}

lab_nsname() { echo "$LAB-$1"; }

lab_ns() {
  local ns="$LAB-$1"
  [ -e "/run/netns/$ns" ] && return 0
  ip netns add "$ns"
  ip -n "$ns" link set lo up
}

lab_wire() {
  local a="$LAB-$1" b="$LAB-$3" mtu=${5:-1500}
  lab_ns "$1"; lab_ns "$3"
  ip link add name "$2" netns "$a" type veth peer name "$4" netns "$b"
  ip -n "$a" link set "$2" mtu "$mtu" up
  ip -n "$b" link set "$4" mtu "$mtu" up
}

lab_wire_root() {
  local b="$LAB-$2"
  lab_ns "$2"
  ip link add name "$1" type veth peer name "$3" netns "$b"
  ip link set "$1" up
  ip -n "$b" link set "$3" up
}

lab_image() {
  local f="$LAB_DIR/$1"
  truncate -s "$2" "$f"
  echo "$f"
}

lab_in() { lab_ns "$1"; local ns="$LAB-$1"; shift; ip netns exec "$ns" "$@"; }

lab_bg() {
  lab_ns "$1"; local ns="$LAB-$1"; shift
  ip netns exec "$ns" "$@" &
  LAB_PIDS+=($!)
  LAB_LAST_PID=$!
}

lab_signal() {
  lab_ns "$1"; local pid
  for pid in $(ip netns pids "$LAB-$1"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$3" ] && kill -"$2" "$pid" 2>/dev/null || true
  done
}

lab_vblade() {
  local host=$1 ifname=$2 shelf=$3 slot=$4 image=$5; shift 5
  local run=(vblade "$@" "$shelf" "$slot" "$ifname" "$image")
  # vblade exits when a send fails (ENOBUFS as a link drops under it); in
  # service a supervisor (systemd's Restart=always) starts it again.
  [ -n "${LAB_VBLADE_RESTART:-}" ] &&
    run=(bash -c 'while :; do "$@"; echo "vblade exited with status $?: restarting"; sleep 0.2; done' _ "${run[@]}")
  lab_bg "$host" "${run[@]}" >>"$LAB_DIR/vblade-$host-$ifname-e$shelf.$slot.log" 2>&1
  # vblade announces itself with a broadcast once its socket is open
  sleep 0.3
}
