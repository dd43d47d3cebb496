#!/usr/bin/env bash
# IPC load benchmark (design.md section 7): 8 closed-loop connections
# replaying device-free requests as fast as possible, against overlayd and
# against a trivial Python server of the same framing that answers `ok`.
# Target: overlayd >= 2x the Python server's requests/s, p99 < 500 us.
#
# usage: bench/replay/run.sh BUILD_DIR [SECONDS] [CONCURRENCY]
set -eu
build=$1
secs=${2:-5}
conc=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
replay=$build/src/replay/overlay-replay
overlayd=$build/src/app/overlayd
session=$here/device_free.jsonl
work=$(mktemp -d /tmp/orp-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_socket() {
  for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done
  echo "no socket at $1" >&2
  return 1
}

# Both servers, then alternate load runs.
"$overlayd" --data-dir "$work/data" --socket "$work/overlayd.sock" \
  --log-level error >"$work/overlayd.log" 2>&1 &
overlayd_pid=$!
pids+=($!)
python3 "$here/trivial_server.py" "$work/python.sock" &
python_pid=$!
pids+=($!)
wait_socket "$work/overlayd.sock"
wait_socket "$work/python.sock"

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run SOCKET LABEL SERVER_PID: one load run, plus the server's CPU cost
# per request (less sensitive to a busy machine than requests/s).
run() {
  local before after line
  before=$(cpu_ticks "$3")
  line=$("$replay" --socket "$1" --max --concurrency "$conc" \
    --duration "$secs" "$session" | sed "s|^$session|$2|")
  after=$(cpu_ticks "$3")
  echo "$line"
  echo "$line" | awk -v t=$((after - before)) -v hz="$hz" -v l="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == "requests") n = $(i - 1)
              printf "%s: server CPU %.1f us per request\n", l,
                     t / hz * 1e6 / n }'
}
# Alternate the two, twice, so that a noisy neighbour hits both alike.
out=$(for round in 1 2; do
  run "$work/overlayd.sock" overlayd "$overlayd_pid"
  run "$work/python.sock" python-ok "$python_pid"
done)
echo "$out"
echo "$out" | awk '
  / server CPU / {
    name = $1; sub(/:.*/, "", name); cpu[name] += $4; m[name]++
  }
  / req\/s/ {
    name = $1; sub(/:.*/, "", name)
    for (i = 1; i <= NF; i++) {
      if ($i == "req/s;") rate[name] += $(i - 1)
      if ($i == "p99") p99[name] = (p99[name] > $(i + 1)) ? p99[name] : $(i + 1)
    }
    n[name]++
  }
  END {
    o = rate["overlayd"] / n["overlayd"]; p = rate["python-ok"] / n["python-ok"]
    printf "overlayd %.0f req/s (worst p99 %.1f us), python-ok %.0f req/s (worst p99 %.1f us)\n", o, p99["overlayd"], p, p99["python-ok"]
    printf "server CPU per request: overlayd %.1f us, python-ok %.1f us (ratio %.2f)\n", cpu["overlayd"] / m["overlayd"], cpu["python-ok"] / m["python-ok"], cpu["python-ok"] / cpu["overlayd"] * m["overlayd"] / m["python-ok"]
    printf "ratio overlayd/python-ok = %.2f (target >= 2.00); overlayd p99 %s 500 us\n", o / p, (p99["overlayd"] < 500 ? "<" : ">=")
  }'
