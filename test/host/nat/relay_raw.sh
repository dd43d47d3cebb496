#!/usr/bin/env bash
# (e) The reference's raw relay scenario (nat.md §10.1 #8) against the
# relay server a running overlayd started on its first tick (max_sessions
# 2): allocation, permissions, DATA both ways, "max sessions reached", and
# sessions freed by Deallocate. (Vanished clients expiring is covered with
# short lifetimes in test/stun's stun-relay; the daemon's relay keeps the
# reference's 600 s plus 300 s of slack.)
set -euo pipefail
OVERLAYD=$(realpath "$1") OVERLAYCTL=$(realpath "$2")
source "$(dirname "$0")/lib.sh"

nt_begin raw
nt_internet
NT_RELAY_MAX_SESSIONS=2 nt_relay_node
nt_say "raw protocol from the public network"
nt_in pub python3 "$(dirname "$0")/relay_client.py" "$NT_RELAY" "$NT_SECRET" 2
nt_say "ok"
