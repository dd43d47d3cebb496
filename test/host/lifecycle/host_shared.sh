#!/usr/bin/env bash
# host_shared: an attach with a host_shared handle puts a /32 alias on the
# node's global WireGuard device. The address answers locally and, across
# the overlay, from a peer node; detach removes the alias (the peer's ping
# then fails) and gives the address back to the node slice. Both nodes are
# left exactly as found.
source "$(dirname "$0")/lib.sh"
lc_begin hs

lc_ns n1 n1
lc_ns n2 n2
lc_link "$n1" 198.18.2.1/24 "$n2" 198.18.2.2/24
before1=$(lc_snapshot "$n1")
before2=$(lc_snapshot "$n2")

lc_daemon_start a "$n1"
lc_daemon_start b "$n2"

# global ROLE SLICE: the global overlay; sets G_<role> (interface),
# KEY_<role> and IP_<role> from status.
global() {
  lc_must "$1" '{"op":"setup_global_overlay","deployment":"lc","instance_id":"hs","cluster_cidr":"10.200.0.0/16","slice_cidr":"'"$2"'","wg_port":51820}'
  printf -v "G_$1" '%s' "$(lc_json "$LC_R" 'r["name"]')"
  lc_must "$1" '{"op":"status"}'
  printf -v "KEY_$1" '%s' "$(lc_json "$LC_R" 'r["public_key"]')"
  printf -v "IP_$1" '%s' "$(lc_json "$LC_R" 'r["node_ip"]')"
}
global a 10.200.0.0/28
global b 10.200.0.16/28
# Keys exchanged over the IPC, as ZLayer's agents do.
lc_must a '{"op":"add_peer","public_key":"'"$KEY_b"'","endpoint":"198.18.2.2:51820","allowed_ips":"10.200.0.16/28","persistent_keepalive_secs":0}'
lc_must b '{"op":"add_peer","public_key":"'"$KEY_a"'","endpoint":"198.18.2.1:51820","allowed_ips":"10.200.0.0/28","persistent_keepalive_secs":0}'
lc_check "the overlay works: node b pings node a's overlay address $IP_a" \
  lc_ping "$n2" "$IP_a" 3

# alias_on NS DEV IP: the /32 is an address of the device.
alias_on() { ip -n "$1" -o addr show dev "$2" | grep " inet $3/32 " >/dev/null; }

lc_must a '{"op":"attach_container","handle":{"platform":"host_shared","id":"ctr-1"},"service":"web","join_global":false,"ephemeral":false}'
ip1=$(lc_json "$LC_R" 'r["ip"]')
lc_log "host_shared ctr-1 got $ip1"
lc_check "attach answers 'attached' with an address of node a's slice" \
  python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("10.200.0.0/28") or sys.argv[1] == sys.argv[2])' "$ip1" "$IP_a"
lc_check "$ip1/32 is an alias on the global device $G_a" alias_on "$n1" "$G_a" "$ip1"
lc_check "$ip1 answers on node a itself" lc_ping "$n1" "$ip1"
lc_check "$ip1 answers node b across the overlay" lc_ping "$n2" "$ip1" 3

lc_must a '{"op":"detach_container","handle":{"platform":"host_shared","id":"ctr-1"}}'
lc_check "detach removes the alias" bash -c "! ip -n $n1 -o addr show | grep ' inet $ip1/' >/dev/null"
lc_check "node b's ping to $ip1 now fails" bash -c "! ip netns exec $n2 ping -n -q -c 1 -W 1 $ip1 >/dev/null"
lc_check "a second detach of the same id is ok (idempotent)" \
  lc_req a '{"op":"detach_container","handle":{"platform":"host_shared","id":"ctr-1"}}'

# The address went back to the slice: the next host_shared attach gets it
# (the slice hands released addresses out first) and it works again.
lc_must a '{"op":"attach_container","handle":{"platform":"host_shared","id":"ctr-2"},"service":"web","join_global":false,"ephemeral":false}'
ip2=$(lc_json "$LC_R" 'r["ip"]')
lc_check "the released $ip1 is handed out again (got $ip2)" test "$ip2" == "$ip1"
lc_check "and answers node b again" lc_ping "$n2" "$ip2" 3
lc_must a '{"op":"detach_container","handle":{"platform":"host_shared","id":"ctr-2"}}'

# Without a global overlay there is nothing to alias on.
lc_must a '{"op":"teardown_global_overlay"}'
lc_check "host_shared without a global overlay is refused" \
  bash -c '! "$0" --socket "$1" raw "$2" >/dev/null 2>&1' "$OVERLAYCTL" "$lc_work/a.sock" \
  '{"op":"attach_container","handle":{"platform":"host_shared","id":"ctr-3"},"service":"web","join_global":false,"ephemeral":false}'

lc_must a '{"op":"shutdown"}'
lc_must b '{"op":"shutdown"}'
lc_daemon_wait a
lc_daemon_wait b
lc_check "node a is left as found" lc_same_snapshot "node a" "$before1" "$(lc_snapshot "$n1")"
lc_check "node b is left as found" lc_same_snapshot "node b" "$before2" "$(lc_snapshot "$n2")"
lc_finish
