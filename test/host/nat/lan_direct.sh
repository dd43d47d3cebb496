#!/usr/bin/env bash
# (d) Two nodes on one LAN behind the same router: each learns its public
# address from coturn, candidates cross through add_peer, and a tick brings
# the peer to `direct` on its host candidate; the overlay pings across.
set -euo pipefail
OVERLAYD=$(realpath "$1") OVERLAYCTL=$(realpath "$2")
source "$(dirname "$0")/lib.sh"

nt_begin lan
nt_internet
nt_node_pair ra 2 ra 3

nt_say "first ticks gather candidates from coturn"
nt_first_ticks
ca=$NT_CA cb=$NT_CB
jq -e --arg ip "${NT_LAN_IP[a]}:51820" 'any(.[]; .candidate_type == "host" and .address == $ip)' <<<"$ca" >/dev/null \
  || nt_fail "a has no host candidate ${NT_LAN_IP[a]}:51820"
jq -e 'any(.[]; .candidate_type == "server-reflexive" and .address == "100.64.1.2:51820")' <<<"$ca" >/dev/null \
  || nt_fail "a did not learn its router's public address from coturn"

nt_say "candidates go across; a's next tick connects on the LAN"
nt_peer a b "$cb"
nt_peer b a "$ca"
nt_tick a
nt_wait_connection a b direct 20
# b answered a's handshake, so b's tick skips a (a handshake within 75 s)
# and, as in the reference, records no connection type for it; its device
# still knows where a is.
nt_tick b
b_sees=$("$OVERLAYCTL" --socket "${NT_SOCK[b]}" raw '{"op":"status"}' | jq -r '.peers[0].endpoint')
[[ $b_sees == "${NT_LAN_IP[a]}:51820" ]] || nt_fail "b's endpoint for a is $b_sees"
nt_ping a b
nt_ping b a
remote=$("$OVERLAYCTL" --socket "${NT_SOCK[a]}" raw '{"op":"nat_status"}' | jq -r '.peers[0].remote_endpoint')
[[ $remote == "${NT_LAN_IP[b]}:51820" ]] || nt_fail "a's remote endpoint for b is $remote"
echo "  a reaches b at $remote"
nt_say "ok"
