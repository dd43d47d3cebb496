#!/usr/bin/env bash
# (b) Both routers do symmetric NAT (MASQUERADE --random-fully): punching
# fails and the peer reaches `relayed`; the overlay ping goes through the
# relay run by a third overlayd on the public network.
# (c) The routers turn back to port-preserving NAT: later ticks upgrade the
# peer off the relay to `hole-punched`, and the ping still works.
set -euo pipefail
OVERLAYD=$(realpath "$1") OVERLAYCTL=$(realpath "$2")
source "$(dirname "$0")/lib.sh"

nt_begin relay
nt_internet
nt_nat_mode ra symmetric
nt_nat_mode rb symmetric
nt_relay_node
nt_node_pair ra 2 rb 2

nt_say "(b) first ticks: candidates include a relay allocation"
nt_first_ticks
ca=$NT_CA cb=$NT_CB
for c in "$ca" "$cb"; do
  jq -e --arg p "$NT_PUBLIC" 'any(.[]; .candidate_type == "relay" and (.address | startswith($p + ":")) and .priority == 10)' <<<"$c" >/dev/null \
    || nt_fail "no relay candidate on $NT_PUBLIC"
done

nt_peer a b "$cb"
nt_peer b a "$ca"
nt_tick a &
tick_a=$!
nt_tick b
wait "$tick_a" || nt_fail "tick on a"
nt_wait_connection a b relayed 40
nt_wait_connection b a relayed 40
nt_ping a b
nt_ping b a
sessions=$("$OVERLAYCTL" --socket "${NT_SOCK[a]}" raw '{"op":"nat_status"}' | jq -r '.peers[0].remote_endpoint')
echo "  a reaches b through the relay at $sessions"
[[ $sessions == "$NT_PUBLIC":* ]] || nt_fail "a's endpoint for b is not on the relay: $sessions"

nt_say "(c) routers back to port-preserving NAT; later ticks upgrade"
nt_nat_mode ra preserving
nt_nat_mode rb preserving
nt_forget_mappings ra rb
upgraded=0
for round in 1 2 3 4 5 6; do
  nt_tick a &
  tick_a=$!
  nt_tick b
  wait "$tick_a" || nt_fail "tick on a"
  for i in $(seq 8); do
    if [[ $(nt_connection a b) == hole-punched && $(nt_connection b a) == hole-punched ]]; then
      upgraded=1
      break 2
    fi
    sleep 1
  done
done
[[ $upgraded == 1 ]] || { nt_diagnose; nt_fail "the peer stayed on the relay"; }
echo "  upgraded off the relay in round $round"
nt_ping a b
nt_ping b a
remote=$("$OVERLAYCTL" --socket "${NT_SOCK[a]}" raw '{"op":"nat_status"}' | jq -r '.peers[0].remote_endpoint')
[[ $remote == 100.64.2.2:51820 ]] || nt_fail "a's endpoint for b after the upgrade is $remote"

nt_say "every daemon shuts down cleanly with NAT running"
nt_shutdown a
nt_shutdown b
nt_shutdown relay
nt_say "ok"
