#!/usr/bin/env bash
# Dedicated mode across two nodes: the service `db` runs in mode dedicated
# on both, so each node gets a second WireGuard device with its own key,
# port and subnet. The dedicated devices become each other's peers through
# add_peer with scope service (no global peers at all), and a container on
# each node reaches the other over the dedicated devices.
#
# Usage: dedicated.sh OVERLAYD OVERLAYCTL   (root)
set -euo pipefail
export OVERLAYD=${1:?overlayd binary} OVERLAYCTL=${2:?overlayctl binary}
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
nd_begin ded

nd_step "two nodes with their global overlays"
nd_two_nodes 192.168.78

nd_step "service db in mode dedicated on both nodes"
declare -A dkey dport dsubnet ddev
for n in a b; do
  nd_service "$n" db dedicated
  [[ $(nd_json mode) == dedicated ]] || nd_fail "mode is not dedicated"
  dkey[$n]=$(nd_json wg_public_key)
  dport[$n]=$(nd_json wg_port)
  dsubnet[$n]=$(nd_json subnet)
  [[ -n ${dkey[$n]} && -n ${dport[$n]} && -n ${dsubnet[$n]} ]] \
    || nd_fail "dedicated identity missing from the reply"
  [[ ${dkey[$n]} != "${ND_KEY[$n]}" && ${dport[$n]} != 51820 ]] \
    || nd_fail "the dedicated device must not share the global identity"
  ddev[$n]=$(ip -n "${ND_NS[$n]}" -o link show | awk -F': ' '{print $2}' \
    | sed 's/@.*//' | grep -E '^zl-.*-d$')
  [[ -n ${ddev[$n]} ]] || nd_fail "no dedicated device on node $n"
done
[[ ${dsubnet[a]} != "${dsubnet[b]}" ]] || nd_fail "both nodes got ${dsubnet[a]}"

nd_step "the dedicated devices peer with each other (scope service)"
nd_peer a "${dkey[b]}" "${ND_UNDERLAY[b]}:${dport[b]}" "${dsubnet[b]}" db
nd_peer b "${dkey[a]}" "${ND_UNDERLAY[a]}:${dport[a]}" "${dsubnet[a]}" db

nd_step "a container on each node, container to container"
nd_container ca
nd_container cb
nd_attach a ca db
ipa=$ND_IP
nd_attach b cb db
ipb=$ND_IP
nd_ping_ok ca "$ipb"
nd_ping_ok cb "$ipa"

nd_step "the traffic went over the dedicated devices"
for n in a b; do
  nd_status "$n"
  [[ $(nd_json peer_count) == 0 ]] || nd_fail "node $n has global peers"
  [[ $(nd_json_any peer_count "$(printf '%s' "$ND_OUT" | sed 's/.*"dedicated_services"://')") == 1 ]] \
    || nd_fail "node $n: the dedicated device should have one peer"
done
route=$(ip -n "${ND_NS[a]}" route get "$ipb")
echo "  node a: $route"
[[ $route == *"dev ${ddev[a]} "* ]] || nd_fail "node a routes $ipb elsewhere"
rx=$(ip netns exec "${ND_NS[a]}" cat "/sys/class/net/${ddev[a]}/statistics/rx_packets")
[[ $rx -gt 0 ]] || nd_fail "node a's dedicated device received nothing"
nd_ok "node a's ${ddev[a]} received $rx packets"

nd_step "allowed IPs added to a service peer are routed, removed ones unrouted"
svc_scope='{"scope":"service","service":"db"}'
nd_ctl a "{\"op\":\"add_allowed_ip\",\"pubkey\":\"${dkey[b]}\",\"cidr\":\"10.250.7.0/24\",\"scope\":$svc_scope}"
ip -n "${ND_NS[a]}" route show dev "${ddev[a]}" | grep -q '^10.250.7.0/24' \
  || nd_fail "10.250.7.0/24 is not routed onto ${ddev[a]}"
nd_ctl a "{\"op\":\"remove_allowed_ip\",\"pubkey\":\"${dkey[b]}\",\"cidr\":\"10.250.7.0/24\",\"scope\":$svc_scope}"
if ip -n "${ND_NS[a]}" route show dev "${ddev[a]}" | grep -q '^10.250.7.0/24'; then
  nd_fail "10.250.7.0/24 stayed routed after remove_allowed_ip"
fi
# The node's own service subnet stays on its bridge, whatever a peer claims.
nd_ctl a "{\"op\":\"add_allowed_ip\",\"pubkey\":\"${dkey[b]}\",\"cidr\":\"${dsubnet[a]}\",\"scope\":$svc_scope}"
[[ $(ip -n "${ND_NS[a]}" route get "$ipa") != *"dev ${ddev[a]} "* ]] \
  || nd_fail "node a's own container $ipa got routed into ${ddev[a]}"
nd_ok "routes follow the service peer's allowed IPs"

nd_step "removing the service peer takes its route; teardown and shutdown"
nd_ctl a "{\"op\":\"remove_peer\",\"pubkey\":\"${dkey[b]}\",\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
if ip -n "${ND_NS[a]}" route show dev "${ddev[a]}" | grep -q "${dsubnet[b]}"; then
  nd_fail "node a still routes ${dsubnet[b]} onto ${ddev[a]}"
fi
nd_detach a ca
nd_detach b cb
for n in a b; do
  nd_ctl "$n" '{"op":"teardown_service_overlay","service":"db"}'
done
nd_shutdown a
nd_shutdown b
nd_check_dropin_gone
