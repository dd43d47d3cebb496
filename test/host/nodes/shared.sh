#!/usr/bin/env bash
# Shared mode across two nodes: services in mode shared use one node-wide
# bridge per node. Two services on node a share it (same bridge, same
# subnet); node b runs one of them on its own shared bridge. Containers
# reach each other on the same bridge and across the nodes; tearing one
# shared service down leaves the bridge to the other.
#
# Usage: shared.sh OVERLAYD OVERLAYCTL   (root)
set -euo pipefail
export OVERLAYD=${1:?overlayd binary} OVERLAYCTL=${2:?overlayctl binary}
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
nd_begin shr

nd_step "two nodes with their global overlays"
nd_two_nodes 192.168.79

nd_step "services api and web in mode shared on node a, web on node b"
nd_service a api shared
[[ $(nd_json mode) == shared ]] || nd_fail "mode is not shared"
bridge_a=$(nd_json name)
nd_service a web shared
[[ $(nd_json name) == "$bridge_a" ]] || nd_fail "web got its own bridge on node a"
[[ $bridge_a == zl-*-sh ]] || nd_fail "$bridge_a is not a shared bridge name"
nd_service b web shared
bridge_b=$(nd_json name)
subnet_a=$(nd_bridge_subnet a "$bridge_a")
subnet_b=$(nd_bridge_subnet b "$bridge_b")
echo "  shared subnets: node a $subnet_a, node b $subnet_b"
[[ -n $subnet_a && -n $subnet_b && $subnet_a != "$subnet_b" ]] \
  || nd_fail "each node needs its own shared subnet"
if ip -n "${ND_NS[a]}" -o link show | grep -qE 'zl-[^:]*-b[:@]'; then
  nd_fail "a shared service got a per-service bridge"
fi

nd_step "global peers carry each other's shared subnet"
nd_global_peers "$subnet_a" "$subnet_b"

nd_step "containers: a1 (api) and a2 (web) on node a, b1 (web) on node b"
nd_container a1
nd_container a2
nd_container b1
nd_attach a a1 api
ip_a1=$ND_IP
nd_attach a a2 web
ip_a2=$ND_IP
nd_attach b b1 web
ip_b1=$ND_IP
for ip in "$ip_a1" "$ip_a2"; do
  [[ $(ip -n "${ND_NS[a]}" route get "$ip") == *"dev $bridge_a "* ]] \
    || nd_fail "$ip is not on node a's shared bridge"
done

nd_step "on the same bridge, and across the nodes"
nd_ping_ok a1 "$ip_a2"
nd_ping_ok a1 "$ip_b1"
nd_ping_ok b1 "$ip_a2"

nd_step "tearing api down keeps the shared bridge for web"
nd_detach a a1
nd_ctl a '{"op":"teardown_service_overlay","service":"api"}'
ip -n "${ND_NS[a]}" link show "$bridge_a" >/dev/null \
  || nd_fail "the shared bridge went with api"
nd_ping_ok b1 "$ip_a2"

nd_step "cleanup"
nd_detach a a2
nd_detach b b1
nd_shutdown a
nd_shutdown b
nd_check_dropin_gone
