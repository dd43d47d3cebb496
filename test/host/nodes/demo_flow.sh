#!/usr/bin/env bash
# The two-node demo, narrated (scripts/demo.sh runs it after building) and a
# host test (it fails on the first step that does not do what it should).
# Each node is a network namespace running its own overlayd; the two are
# joined by a veth "underlay" (192.168.77.0/24). Everything is driven
# through overlayctl over each daemon's IPC socket with the requests ZLayer's
# main daemon sends: identity, global overlay, a service, keys exchanged as
# peers, a container (a sleeping process in a namespace of its own)
# attached on each node, then a ping from one container to the other across
# the WireGuard overlay. Everything it creates is removed at the end, also
# when a step fails.
#
# Usage: demo_flow.sh OVERLAYD OVERLAYCTL   (root)
set -euo pipefail
export OVERLAYD=${1:?overlayd binary} OVERLAYCTL=${2:?overlayctl binary}
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
nd_begin demo

nd_step "1. two nodes: namespaces joined by a veth underlay"
nd_node a
nd_node b
nd_underlay a b 192.168.77
for n in a b; do
  nd_show_cmd "ip -n ${ND_NS[$n]} -br addr show ul0"
  ip -n "${ND_NS[$n]}" -br addr show ul0 | sed 's/^/  /'
done

nd_step "2. one overlayd per node (own data dir, socket and UAPI dir)"
nd_start_daemon a
nd_start_daemon b
nd_note "  below, \$a is ${ND_SOCK[a]} and \$b is ${ND_SOCK[b]}"

nd_step "3. identity and global overlay: cluster 10.200.0.0/16, a /28 slice per node"
nd_global a 1 10.200.0.0/28
nd_global b 2 10.200.0.16/28

nd_step "4. a service on each node: mode auto, a per-service bridge carried on the cluster device"
declare -A subnet
for n in a b; do
  nd_service "$n" web auto
  subnet[$n]=$(nd_bridge_subnet "$n" "$(nd_json name)")
done
nd_note "  service subnets (each bridge's route; ZLayer knows them from its subnet registry):"
nd_note "  node a ${subnet[a]}, node b ${subnet[b]}"
[[ -n ${subnet[a]} && -n ${subnet[b]} && ${subnet[a]} != "${subnet[b]}" ]] \
  || nd_fail "each node needs its own service subnet"

nd_step "5. keys exchanged: each node's public key from status, added as a peer on the other"
declare -A key node_ip slice
declare -A underlay_ip=([a]=192.168.77.1 [b]=192.168.77.2)
for n in a b; do
  nd_ctl "$n" '{"op":"status"}'
  key[$n]=$(nd_json public_key)
  node_ip[$n]=$(nd_json node_ip)
  slice[$n]=$(nd_json slice_cidr)
done
# As ZLayer programs it: a node's peer carries that node's overlay IP, its
# slice and the subnets of its services; the endpoint is its underlay
# address and WireGuard port.
nd_note "  allowed_ips = the other node's overlay IP, its slice and its service subnet"
nd_peer a "${key[b]}" "${underlay_ip[b]}:51820" "${node_ip[b]}/32,${slice[b]},${subnet[b]}"
nd_peer b "${key[a]}" "${underlay_ip[a]}:51820" "${node_ip[a]}/32,${slice[a]},${subnet[a]}"

nd_step "6. a container on each node: a sleeping process in a namespace of its own, attached"
declare -A cip
nd_container ca
nd_container cb
nd_note "  ca: pid ${ND_PID[ca]} in ${ND_NS[ca]}; cb: pid ${ND_PID[cb]} in ${ND_NS[cb]}"
nd_attach a ca web
cip[a]=$ND_IP
nd_attach b cb web
cip[b]=$ND_IP
nd_show_cmd "ip -n ${ND_NS[ca]} -br addr; ip -n ${ND_NS[ca]} route"
{ ip -n "${ND_NS[ca]}" -br addr; ip -n "${ND_NS[ca]}" route; } | sed 's/^/  /'

nd_step "7. container to container across the WireGuard overlay"
nd_show_cmd "ip -n ${ND_NS[a]} route get ${cip[b]}"
ip -n "${ND_NS[a]}" route get "${cip[b]}" | sed -n '1s/^/  /p'
nd_ping_ok ca "${cip[b]}"
nd_ping_ok cb "${cip[a]}"

nd_step "8. overlayctl status on both nodes (peers as the devices report them)"
for n in a b; do
  echo "node $n:"
  nd_ctl_status "$n"
  nd_status "$n"
  [[ $(nd_json_any last_handshake_unix_secs) -gt 0 ]] || nd_fail "node $n reports no handshake with its peer"
done

nd_step "9. cleanup: detach, teardown, shutdown (namespaces go on exit)"
nd_detach a ca
nd_detach b cb
for n in a b; do
  nd_ctl "$n" '{"op":"teardown_service_overlay","service":"web"}'
done
nd_shutdown a
nd_shutdown b
nd_check_dropin_gone
