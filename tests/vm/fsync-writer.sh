# tests/vm/fsync-writer.sh, sourced by the kernel tests that keep a file
# system busy across a restart or a stop (needs $LAB_DIR, $mnt and fail).
#
#   writer SIZE     fsync'ed files of SIZE (dd's units) on $mnt until
#                   $LAB_DIR/stop appears; their sums go to $LAB_DIR/sums
#                   once written, the times they were to $LAB_DIR/times,
#                   errors to $LAB_DIR/writer.log
#   written         how many files are written
#   progress LABEL [SECONDS]  the writer writes 3 more files within
#                   SECONDS (90)
#   now             the time as the writer writes it down
#   stall FILE T0 T1  the longest gap (s) between the times in FILE (one a
#                   line, ascending) that ends after T0 and by T1: the
#                   longest stall of that I/O across an event at T0
writer() {
  local i=0
  while [ ! -e "$LAB_DIR/stop" ]; do
    i=$((i + 1))
    head -c "$1" /dev/urandom >"$LAB_DIR/w.src"
    if dd if="$LAB_DIR/w.src" of="$mnt/w$i" bs=64k conv=fsync status=none 2>>"$LAB_DIR/writer.log"; then
      now >>"$LAB_DIR/times"
      echo "$(sha256sum <"$LAB_DIR/w.src" | cut -d' ' -f1)  w$i" >>"$LAB_DIR/sums"
    else
      echo "ERROR: w$i" >>"$LAB_DIR/writer.log"
    fi
  done
}

written() { wc -l <"$LAB_DIR/sums"; }

now() { echo "$EPOCHREALTIME"; }   # no fork: the writer's pace is what is measured

stall() {
  awk -v t0="$2" -v t1="$3" 'NR > 1 && $1 > t0 && $1 <= t1 && $1 - prev > max { max = $1 - prev }
                             { prev = $1 } END { printf "%.1f\n", max }' "$1"
}

progress() {
  local from seconds=${2:-90}; from=$(written)
  for _ in $(seq $((seconds * 10))); do
    [ "$(written)" -ge $((from + 3)) ] && return 0
    sleep 0.1
  done
  fail "$1: the writer wrote less than 3 files in $seconds s"
}
