#!/usr/bin/env bash
# Standalone mode: with `[nat] self_tick = true` the daemon ticks by itself
# once the global overlay exists; nat_status shows the candidates it
# gathered from coturn although nobody sent nat_tick.
set -euo pipefail
OVERLAYD=$(realpath "$1") OVERLAYCTL=$(realpath "$2")
source "$(dirname "$0")/lib.sh"

nt_begin self
nt_internet
nt_node a ra 2
nt_daemon a "$(printf '[nat]\nself_tick = true')"
nt_ctl a '{"op":"nat_status"}'
[[ $(jq .last_refresh <<<"$NT_OUT") == 0 ]] || nt_fail "refreshed before the global overlay exists"
nt_global a 1 10.200.0.0/28
for i in $(seq 100); do
  out=$("$OVERLAYCTL" --socket "${NT_SOCK[a]}" raw '{"op":"nat_status"}')
  if [[ $(jq .last_refresh <<<"$out") != 0 ]]; then
    echo "  $out"
    jq -e 'any(.candidates[]; .candidate_type == "server-reflexive" and .address == "100.64.1.2:51820")' <<<"$out" >/dev/null \
      || nt_fail "the self tick did not learn the router's address"
    nt_say "ok"
    exit 0
  fi
  sleep 0.1
done
nt_diagnose
nt_fail "no tick within 10 s of the global overlay"
