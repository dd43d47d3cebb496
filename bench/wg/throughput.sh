#!/usr/bin/env bash
# WireGuard data-plane benchmark (not a test): two namespaces joined by a
# veth pair, the same implementation on both sides, configured with wg(8).
# Measures iperf3 single-stream TCP (10 s), iperf3 UDP and the median ping
# RTT (200 pings, measured first, on an idle tunnel) for
# overlay-wg and Debian's wireguard-go, alternating them in one run, and
# prints Mbit/s with the overlay-wg / wireguard-go ratio.
#
# Usage: bench/wg/throughput.sh [PATH-TO-overlay-wg] [ROUNDS]
#   env: SECONDS_PER_TEST (10), UDP_RATE (iperf3 -b, default 1G),
#        OVERLAY_WG_NO_OFFLOAD=1 to measure without TUN/UDP offloads.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../test/wg/io/host/lib.sh"

OGW=${1:-$here/../../build/src/wg/io/overlay-wg}
ROUNDS=${2:-1}
DURATION=${SECONDS_PER_TEST:-10}
UDP_RATE=${UDP_RATE:-1G}
for tool in "$OGW" wireguard-go iperf3 wg; do
  command -v "$tool" >/dev/null || { echo "missing: $tool"; exit 1; }
done

make_netns || { echo "cannot create namespaces"; exit 1; }
make_keys

stop_impl() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PIDS=()
}

start_pair() { # start_pair IMPL
  start_wg "$NS_A" "$1" "$IF_A" || return 1
  start_wg "$NS_B" "$1" "$IF_B" || return 1
  in_a wg set "$IF_A" private-key "$WORK/a.key" listen-port $PORT_A \
    peer "$PUB_B" endpoint "$OUT_B4:$PORT_B" allowed-ips "$IN_B4/32"
  in_b wg set "$IF_B" private-key "$WORK/b.key" listen-port $PORT_B \
    peer "$PUB_A" endpoint "$OUT_A4:$PORT_A" allowed-ips "$IN_A4/32"
  in_a ip addr add "$IN_A4/24" dev "$IF_A"
  in_b ip addr add "$IN_B4/24" dev "$IF_B"
  in_a ip link set "$IF_A" up
  in_b ip link set "$IF_B" up
  ping_retry "$NS_A" "$IN_B4" >/dev/null
}

json_field() { # json_field FILE PYTHON-EXPR-ON-d
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

measure() { # measure IMPL LABEL -> appends a row to $WORK/rows
  local impl=$1 label=$2
  start_pair "$impl" || { echo "$label: tunnel did not come up"; return 1; }
  local rtt
  # The median resists the scheduling spikes of a shared machine.
  rtt=$(in_a ping -c 200 -i 0.01 "$IN_B4" \
    | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n \
    | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  in_b iperf3 -s -D -1 -B "$IN_B4" >/dev/null
  sleep 0.3
  in_a iperf3 -c "$IN_B4" -t "$DURATION" -J >"$WORK/tcp.json"
  local tcp
  tcp=$(json_field "$WORK/tcp.json" 'round(d["end"]["sum_received"]["bits_per_second"]/1e6)')
  in_b iperf3 -s -D -1 -B "$IN_B4" >/dev/null
  sleep 0.3
  in_a iperf3 -c "$IN_B4" -u -b "$UDP_RATE" -l 1350 -t "$DURATION" -J \
    >"$WORK/udp.json"
  local udp loss
  udp=$(json_field "$WORK/udp.json" 'round(d["end"]["sum"]["bits_per_second"]*(1-d["end"]["sum"]["lost_percent"]/100)/1e6)')
  loss=$(json_field "$WORK/udp.json" 'round(d["end"]["sum"]["lost_percent"],1)')
  printf '%s %s %s %s %s\n' "$label" "$tcp" "$udp" "$loss" "$rtt" \
    >>"$WORK/rows"
  stop_impl
  in_a ip link del "$IF_A" 2>/dev/null
  in_b ip link del "$IF_B" 2>/dev/null
  sleep 0.5
}

: >"$WORK/rows"
for round in $(seq "$ROUNDS"); do
  log "round $round: wireguard-go"
  measure wireguard-go wireguard-go
  log "round $round: overlay-wg"
  measure "$OGW" overlay-wg
done

python3 - "$WORK/rows" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    label, tcp, udp, loss, rtt = line.split()
    rows.setdefault(label, []).append((float(tcp), float(udp), float(loss), float(rtt)))
def mean(label, i):
    return statistics.mean(r[i] for r in rows[label])
print("\nper run (label TCP UDP loss% RTT):")
for line in open(sys.argv[1]):
    print("  " + line.strip())
print()
print(f"| implementation | TCP Mbit/s | UDP Mbit/s (loss %) | median ping RTT ms | runs |")
print(f"|---|---|---|---|---|")
for label in ("wireguard-go", "overlay-wg"):
    if label in rows:
        print(f"| {label} | {mean(label,0):.0f} | {mean(label,1):.0f} ({mean(label,2):.1f}) | {mean(label,3):.3f} | {len(rows[label])} |")
if len(rows) == 2:
    print(f"| ratio overlay-wg / wireguard-go | {mean('overlay-wg',0)/mean('wireguard-go',0):.2f}x | {mean('overlay-wg',1)/mean('wireguard-go',1):.2f}x | {mean('overlay-wg',3)/mean('wireguard-go',3):.2f}x | |")
PY
