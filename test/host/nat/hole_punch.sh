#!/usr/bin/env bash
# (a) Two home networks behind port-preserving MASQUERADE routers that drop
# unsolicited inbound traffic: both nodes learn their router's public
# address from coturn, candidates cross through add_peer, simultaneous ticks
# punch the hole and the peer reaches `hole-punched`; the overlay pings.
set -euo pipefail
OVERLAYD=$(realpath "$1") OVERLAYCTL=$(realpath "$2")
source "$(dirname "$0")/lib.sh"

nt_begin punch
nt_internet
nt_node_pair ra 2 rb 2

nt_say "first ticks gather candidates from coturn"
nt_first_ticks
ca=$NT_CA cb=$NT_CB
jq -e 'any(.[]; .candidate_type == "server-reflexive" and .address == "100.64.1.2:51820")' <<<"$ca" >/dev/null \
  || nt_fail "a did not learn 100.64.1.2 from coturn"
jq -e 'any(.[]; .candidate_type == "server-reflexive" and .address == "100.64.2.2:51820")' <<<"$cb" >/dev/null \
  || nt_fail "b did not learn 100.64.2.2 from coturn"

nt_say "without traversal the routers keep the nodes apart"
if nt_in a ping -n -c 1 -w 1 100.64.2.2 >/dev/null 2>&1; then
  nt_fail "router rb answers unsolicited traffic"
fi

nt_say "candidates go across; both tick at once and punch"
nt_peer a b "$cb"
nt_peer b a "$ca"
nt_tick a &
tick_a=$!
nt_tick b
wait "$tick_a" || nt_fail "tick on a"
nt_wait_connection a b hole-punched 30
nt_wait_connection b a hole-punched 30
nt_ping a b
nt_ping b a
remote=$("$OVERLAYCTL" --socket "${NT_SOCK[a]}" raw '{"op":"nat_status"}' | jq -r '.peers[0].remote_endpoint')
[[ $remote == 100.64.2.2:51820 ]] || nt_fail "a's remote endpoint for b is $remote"
echo "  a reaches b at its router's address $remote"
nt_say "ok"
