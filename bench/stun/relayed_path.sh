#!/usr/bin/env bash
# Relayed vs direct WireGuard path benchmark (not a test). Root.
#
#   h1 (10.1.0.2) - r1 [MASQUERADE --random-fully] - pub (198.51.100.1,
#   h2 (10.2.0.2) - r2 [MASQUERADE --random-fully] - pub  our relay)
#
# The routers drop unsolicited inbound traffic, except that r2 forwards UDP
# port 51900 to h2 (a home router's port forward). Two tunnels run between
# h1 and h2 in the same namespaces, through the same routers:
#   direct  : overlay-wg on both sides, h1 -> 198.51.100.6:51900 -> h2
#   relayed : stun_relayed_node (the same device with stun::relay_path) on
#             both sides, each side's endpoint the other's relay address
# and iperf3 single-stream TCP runs through each in turn. Prints Mbit/s of
# both, the relayed/direct ratio and the median ping RTT of each.
#
# Usage: bench/stun/relayed_path.sh [BUILD-DIR] [ROUNDS]
#   env: SECONDS_PER_TEST (10)
set -u
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$here/../../build}
ROUNDS=${2:-1}
DURATION=${SECONDS_PER_TEST:-10}
ninja -C "$BUILD" bench/stun/stun_relayed_node src/wg/io/overlay-wg >/dev/null \
  || { echo "build failed"; exit 1; }
NODE=$BUILD/bench/stun/stun_relayed_node
OGW=$BUILD/src/wg/io/overlay-wg
for tool in iperf3 wg iptables; do
  command -v "$tool" >/dev/null || { echo "missing: $tool"; exit 1; }
done

ID=$$
PUB=rp-bpub-$ID R1=rp-br1-$ID R2=rp-br2-$ID H1=rp-bh1-$ID H2=rp-bh2-$ID
ALL_NS=("$PUB" "$R1" "$R2" "$H1" "$H2")
# Interface names are global through /var/run/wireguard: make them unique.
SUF=$(printf '%04x' $((ID % 65536)))
IF_DA=rpda$SUF IF_DB=rpdb$SUF IF_RA=rpra$SUF IF_RB=rprb$SUF
WORK=$(mktemp -d /tmp/rp-bench.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for ns in "${ALL_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -f /var/run/wireguard/{$IF_DA,$IF_DB,$IF_RA,$IF_RB}.sock
  rm -rf "$WORK"
}
trap cleanup EXIT

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

router() { # router R H N PUB_IP WAN_IP
  local r=$1 h=$2 n=$3 pub_ip=$4 wan_ip=$5
  ip -n "$PUB" link add "up$n" type veth peer name "wan$n" netns "$r"
  ip -n "$PUB" addr add "$pub_ip/30" dev "up$n"
  ip -n "$PUB" link set "up$n" up
  ip -n "$r" addr add "$wan_ip/30" dev "wan$n"
  ip -n "$r" link set "wan$n" up
  ip -n "$r" link add lan type veth peer name eth0 netns "$h"
  ip -n "$r" addr add "10.$n.0.1/24" dev lan
  ip -n "$r" link set lan up
  ip -n "$r" link set lo up
  ip -n "$h" addr add "10.$n.0.2/24" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" link set lo up
  ip -n "$h" route add default via "10.$n.0.1"
  ip -n "$r" route add default via "$pub_ip"
  in_ns "$r" sysctl -qw net.ipv4.ip_forward=1
  in_ns "$r" iptables -t nat -A POSTROUTING -o "wan$n" -j MASQUERADE --random-fully
  in_ns "$r" iptables -A FORWARD -i "wan$n" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_ns "$r" iptables -A FORWARD -i "wan$n" -j DROP
}

build_topology() {
  local ns
  for ns in "${ALL_NS[@]}"; do ip netns add "$ns" || return 1; done
  ip -n "$PUB" link set lo up
  # pub routes between the two routers (the internet between the homes).
  in_ns "$PUB" sysctl -qw net.ipv4.ip_forward=1
  router "$R1" "$H1" 1 198.51.100.1 198.51.100.2 || return 1
  router "$R2" "$H2" 2 198.51.100.5 198.51.100.6 || return 1
  # The direct tunnel's port forward on r2.
  in_ns "$R2" iptables -t nat -A PREROUTING -i wan2 -p udp --dport 51900 \
    -j DNAT --to-destination 10.2.0.2:51900
  in_ns "$R2" iptables -I FORWARD 1 -i wan2 -p udp -d 10.2.0.2 --dport 51900 -j ACCEPT
}

wait_file() { # wait_file PATH
  local i
  for i in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.05; done
  echo "missing $1" >&2
  return 1
}
wait_socket() { # wait_socket IFNAME: its UAPI socket listens
  local i
  for i in $(seq 100); do [[ -S /var/run/wireguard/$1.sock ]] && return 0; sleep 0.05; done
  echo "no UAPI socket for $1" >&2
  return 1
}

ping_up() { # ping_up NS ADDR
  local i
  for i in $(seq 20); do
    in_ns "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1 && return 0
  done
  return 1
}

median_rtt() { # median_rtt NS ADDR
  in_ns "$1" ping -c 100 -i 0.01 "$2" | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' \
    | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

tcp_mbits() { # tcp_mbits SERVER_NS ADDR CLIENT_NS
  in_ns "$1" iperf3 -s -D -1 -B "$2" >/dev/null
  sleep 0.3
  in_ns "$3" iperf3 -c "$2" -t "$DURATION" -J >"$WORK/tcp.json" 2>/dev/null
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d["end"]["sum_received"]["bits_per_second"]/1e6))' "$WORK/tcp.json" 2>/dev/null || echo 0
}

build_topology || { echo "cannot build the topology"; exit 1; }
umask 077
for k in a b c d; do wg genkey >"$WORK/$k.key"; wg pubkey <"$WORK/$k.key" >"$WORK/$k.pub"; done

# Background processes are started with `ip netns exec` itself (which
# execs the program), so $! is the program's pid and cleanup can stop it.

# The relay.
ip netns exec "$PUB" "$NODE" relay 3479 198.51.100.1:3479 2>"$WORK/relay.log" &
PIDS+=($!)
sleep 0.2

# Direct tunnel: 10.98.0.1 <-> 10.98.0.2.
ip netns exec "$H1" env WG_PROCESS_FOREGROUND=1 "$OGW" -f "$IF_DA" >"$WORK/da.log" 2>&1 &
PIDS+=($!)
ip netns exec "$H2" env WG_PROCESS_FOREGROUND=1 "$OGW" -f "$IF_DB" >"$WORK/db.log" 2>&1 &
PIDS+=($!)
# Relayed tunnel: 10.99.0.1 <-> 10.99.0.2.
ip netns exec "$H1" "$NODE" node "$IF_RA" 198.51.100.1:3479 "$WORK" 2>"$WORK/ra.log" &
PIDS+=($!)
ip netns exec "$H2" "$NODE" node "$IF_RB" 198.51.100.1:3479 "$WORK" 2>"$WORK/rb.log" &
PIDS+=($!)
for f in "$IF_DA" "$IF_DB" "$IF_RA" "$IF_RB"; do wait_socket "$f" || exit 1; done
wait_file "$WORK/$IF_RA.relay" && wait_file "$WORK/$IF_RB.relay" || exit 1
RA=$(cat "$WORK/$IF_RA.relay") RB=$(cat "$WORK/$IF_RB.relay")
echo "$RB" >"$WORK/$IF_RA.peers"
echo "$RA" >"$WORK/$IF_RB.peers"

in_ns "$H1" wg set "$IF_DA" private-key "$WORK/a.key" listen-port 51901 \
  peer "$(cat "$WORK/b.pub")" endpoint 198.51.100.6:51900 allowed-ips 10.98.0.2/32
in_ns "$H2" wg set "$IF_DB" private-key "$WORK/b.key" listen-port 51900 \
  peer "$(cat "$WORK/a.pub")" allowed-ips 10.98.0.1/32
in_ns "$H1" wg set "$IF_RA" private-key "$WORK/c.key" \
  peer "$(cat "$WORK/d.pub")" endpoint "$RB" allowed-ips 10.99.0.2/32
in_ns "$H2" wg set "$IF_RB" private-key "$WORK/d.key" \
  peer "$(cat "$WORK/c.pub")" allowed-ips 10.99.0.1/32
ip -n "$H1" addr add 10.98.0.1/24 dev "$IF_DA"
ip -n "$H2" addr add 10.98.0.2/24 dev "$IF_DB"
ip -n "$H1" addr add 10.99.0.1/24 dev "$IF_RA"
ip -n "$H2" addr add 10.99.0.2/24 dev "$IF_RB"
for pair in "$H1 $IF_DA" "$H2 $IF_DB" "$H1 $IF_RA" "$H2 $IF_RB"; do
  set -- $pair
  ip -n "$1" link set "$2" up
done

ping_up "$H1" 10.98.0.2 || { echo "direct tunnel did not come up"; exit 1; }
ping_up "$H1" 10.99.0.2 || { echo "relayed tunnel did not come up"; exit 1; }
echo "relay addresses: A $RA, B $RB; B sees A at" \
  "$(in_ns "$H2" wg show "$IF_RB" endpoints | awk '{ print $2 }')"

rtt_direct=$(median_rtt "$H1" 10.98.0.2)
rtt_relayed=$(median_rtt "$H1" 10.99.0.2)
for round in $(seq "$ROUNDS"); do
  d=$(tcp_mbits "$H2" 10.98.0.2 "$H1")
  r=$(tcp_mbits "$H2" 10.99.0.2 "$H1")
  echo "round $round: direct $d Mbit/s, relayed $r Mbit/s"
  echo "$d $r" >>"$WORK/rows"
done
awk -v rd="$rtt_direct" -v rr="$rtt_relayed" '
  { d += $1; r += $2; n++ }
  END {
    printf "iperf3 TCP %ds x %d: direct %.0f Mbit/s, relayed %.0f Mbit/s, relayed/direct %.2f\n",
      '"$DURATION"', n, d / n, r / n, (d > 0 ? r / d : 0)
    printf "median ping RTT: direct %s ms, relayed %s ms\n", rd, rr
  }' "$WORK/rows"

# Stop the nodes so they print their counters.
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
PIDS=()
cat "$WORK/ra.log" "$WORK/rb.log" "$WORK/relay.log" | grep -v '^relay allocated' || true
