#!/usr/bin/env bash
# Time from both nodes' first nat_tick to a working overlay ping, over the
# IPC only, in the simulated internet of test/host/nat/lib.sh:
#   preserving  routers do port-preserving MASQUERADE -> hole-punched
#   symmetric   routers do MASQUERADE --random-fully  -> relayed (a third
#               overlayd on the public network runs the relay)
# hole_punch_timeout_secs is 3. The clock starts before the first ticks
# (candidate gathering), then candidates cross through add_peer, both nodes
# tick again at once, and one ping a 100 ms is sent until one is answered.
#
#   sudo bench/stun/time_to_path.sh BUILD_DIR [RUNS]
# prints, per NAT type, the milliseconds of each run.
set -euo pipefail
build=$(realpath "${1:?usage: time_to_path.sh BUILD_DIR [RUNS]}")
runs=${2:-3}
OVERLAYD=$build/src/app/overlayd OVERLAYCTL=$build/src/app/overlayctl
source "$(dirname "$(realpath "$0")")/../../test/host/nat/lib.sh"

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# one_run MODE: prints the milliseconds to the first answered ping.
one_run() {
  local mode=$1 t0 t1 ca cb want tick
  nt_begin "bench$mode"
  nt_internet >/dev/null
  nt_nat_mode ra "$mode"
  nt_nat_mode rb "$mode"
  [[ $mode == symmetric ]] && nt_relay_node >/dev/null
  nt_node a ra 2
  nt_node b rb 2
  nt_daemon a
  nt_daemon b
  nt_global a 1 10.200.0.0/28 3 >/dev/null
  nt_global b 2 10.200.0.16/28 3 >/dev/null
  t0=$(ms_now)
  nt_tick a >/dev/null &
  tick=$!
  nt_tick b >/dev/null
  wait "$tick"
  ca=$(nt_candidates a)
  cb=$(nt_candidates b)
  nt_peer a b "$cb" >/dev/null
  nt_peer b a "$ca" >/dev/null
  nt_tick a >/dev/null &
  tick=$!
  nt_tick b >/dev/null
  wait "$tick"
  until nt_in a ping -n -c 1 -W 0.1 "${NT_NODE_IP[b]}" >/dev/null 2>&1; do
    (($(ms_now) - t0 < 60000)) || nt_fail "no path within 60 s"
  done
  t1=$(ms_now)
  want=hole-punched
  [[ $mode == symmetric ]] && want=relayed
  local seen='' i
  # The attempt records its type at its next 1 s poll.
  for i in $(seq 20); do
    seen=$(nt_connection a b)
    [[ -n $seen ]] && break
    seen=$(nt_connection b a)
    [[ -n $seen ]] && break
    sleep 0.5
  done
  echo "$mode run: $((t1 - t0)) ms to the first overlay ping reply (connection ${seen:-none}, expected $want)" >&2
  echo $((t1 - t0))
}

if [[ ${3:-} == --one ]]; then
  one_run "$4" >"$5"
  exit 0
fi

for mode in preserving symmetric; do
  results=()
  for r in $(seq "$runs"); do
    # Each run in its own process, whose EXIT trap removes everything.
    out=$(mktemp)
    "$0" "$build" 1 --one "$mode" "$out" >/dev/null || true
    results+=("$(cat "$out")")
    rm -f "$out"
  done
  echo "$mode (hole_punch_timeout_secs 3): ${results[*]} ms"
done
