#!/usr/bin/env bash
# Two isolated networks: containers attached with isolation_network "blue"
# or "red" reach the members of their own network and nobody else in the
# cluster. The members sit on three different service bridges, so every
# packet between them is routed through the node's FORWARD chain, where the
# isolation rules live (fencing members of one bridge from each other would
# need br_netfilter, which is host-wide). Membership is per node, as in the
# reference, so this runs on one node; a second node (b, with an ordinary
# container) shows that an isolated member cannot reach the rest of the
# cluster either, while the ordinary containers still can.
#
# Usage: isolation.sh OVERLAYD OVERLAYCTL   (root)
set -euo pipefail
export OVERLAYD=${1:?overlayd binary} OVERLAYCTL=${2:?overlayctl binary}
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
nd_begin iso

nd_step "two nodes with their global overlays"
nd_two_nodes 192.168.80

nd_step "services web, api and db on node a; web on node b"
declare -A subnet
for svc in web api db; do
  nd_service a "$svc" auto
  subnet[$svc]=$(nd_bridge_subnet a "$(nd_json name)")
done
nd_service b web auto
subnet_b=$(nd_bridge_subnet b "$(nd_json name)")
nd_global_peers "${subnet[web]},${subnet[api]},${subnet[db]}" "$subnet_b"

nd_step "blue1 (web) and blue2 (api) in network blue, red1 (db) in red, free1 (web) in none; b1 on node b"
for c in blue1 blue2 red1 free1 b1; do nd_container "$c"; done
nd_attach a blue1 web blue
blue1=$ND_IP
nd_attach a blue2 api blue
blue2=$ND_IP
nd_attach a red1 db red
red1=$ND_IP
nd_attach a free1 web
free1=$ND_IP
nd_attach b b1 web
b1=$ND_IP

nd_step "allowed within a network"
nd_ping_ok blue1 "$blue2"
nd_ping_ok blue2 "$blue1"

nd_step "blocked across networks and to the rest of the cluster"
nd_ping_blocked blue1 "$red1"
nd_ping_blocked red1 "$blue1"
nd_ping_blocked red1 "$blue2"
nd_ping_blocked blue2 "$b1"
nd_ping_blocked b1 "$red1"

nd_step "containers outside any network are not affected"
nd_ping_ok free1 "$b1"
nd_ping_ok b1 "$free1"

nd_step "a leaver takes its rules, the others keep theirs"
rules=$(ip netns exec "${ND_NS[a]}" iptables -S)
[[ $rules == *"$red1"* ]] || nd_fail "no isolation rule names red1 ($red1)"
nd_detach a red1
rules=$(ip netns exec "${ND_NS[a]}" iptables -S)
[[ $rules != *"$red1/"* ]] || nd_fail "red1's rules stayed after its detach"
[[ $rules == *"$blue1/"* ]] || nd_fail "blue1's rules went with red1"
nd_ping_ok blue1 "$blue2"

nd_step "cleanup"
for c in blue1 blue2 free1; do nd_detach a "$c"; done
nd_detach b b1
nd_shutdown a
nd_shutdown b
nd_check_dropin_gone
