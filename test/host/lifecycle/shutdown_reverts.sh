#!/usr/bin/env bash
# shutdown_reverts: a full flow on two nodes, then an in-band shutdown with
# everything still in place (containers attached, peers set, services up)
# must leave each node exactly as it was before its daemon started: links,
# addresses, routes, rules, iptables (and ip6tables) and every forwarding
# sysctl, plus no network-manager drop-in. On failure the difference is
# printed.
source "$(dirname "$0")/lib.sh"
lc_begin sr

lc_ns n1 n1
lc_ns n2 n2
lc_link "$n1" 198.18.3.1/24 "$n2" 198.18.3.2/24
for ns in "$n1" "$n2"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0
done
before1=$(lc_snapshot "$n1")
before2=$(lc_snapshot "$n2")

lc_daemon_start a "$n1"
lc_daemon_start b "$n2"

# node ROLE ID SLICE: identity and global overlay; sets KEY_, IP_.
node() {
  lc_must "$1" '{"op":"set_local_node_id","node_id":'"$2"'}'
  lc_must "$1" '{"op":"setup_global_overlay","deployment":"lc","instance_id":"sr","cluster_cidr":"10.200.0.0/16","slice_cidr":"'"$3"'","wg_port":51820}'
  lc_must "$1" '{"op":"status"}'
  printf -v "KEY_$1" '%s' "$(lc_json "$LC_R" 'r["public_key"]')"
  printf -v "IP_$1" '%s' "$(lc_json "$LC_R" 'r["node_ip"]')"
  lc_must "$1" '{"op":"set_local_wg_pubkey","pubkey":"'"$(lc_json "$LC_R" 'r["public_key"]')"'"}'
}
node a 1 10.200.0.0/28
node b 2 10.200.0.16/28

# Services of every mode on a; the dedicated one on b too.
lc_must a '{"op":"setup_service_overlay","service":"web","mode":"auto"}'
lc_must a '{"op":"setup_service_overlay","service":"sh1","mode":"shared"}'
lc_must a '{"op":"setup_service_overlay","service":"sh2","mode":"shared"}'
lc_must a '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}'
db_a=$LC_R
lc_must b '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}'
db_b=$LC_R

# Peers on both scopes.
lc_must a '{"op":"add_peer","public_key":"'"$KEY_b"'","endpoint":"198.18.3.2:51820","allowed_ips":"10.200.0.16/28","persistent_keepalive_secs":25}'
lc_must b '{"op":"add_peer","public_key":"'"$KEY_a"'","endpoint":"198.18.3.1:51820","allowed_ips":"10.200.0.0/28","persistent_keepalive_secs":25}'
lc_must a '{"op":"add_allowed_ip","pubkey":"'"$KEY_b"'","cidr":"10.200.250.0/26"}'
lc_must a '{"op":"add_peer","public_key":"'"$(lc_json "$db_b" 'r["wg_public_key"]')"'","endpoint":"198.18.3.2:'"$(lc_json "$db_b" 'str(r["wg_port"])')"'","allowed_ips":"'"$(lc_json "$db_b" 'r["subnet"]')"'","persistent_keepalive_secs":0,"scope":{"scope":"service","service":"db"}}'
lc_must b '{"op":"add_peer","public_key":"'"$(lc_json "$db_a" 'r["wg_public_key"]')"'","endpoint":"198.18.3.1:'"$(lc_json "$db_a" 'str(r["wg_port"])')"'","allowed_ips":"'"$(lc_json "$db_a" 'r["subnet"]')"'","persistent_keepalive_secs":0,"scope":{"scope":"service","service":"db"}}'
lc_check "the global overlay works between the nodes" lc_ping "$n2" "$IP_a" 3

# Containers on every kind of bridge, one joining the global overlay and
# an isolated network; a host_shared alias; a guest; an allocated address.
lc_container c1
lc_container c2
lc_container c3
lc_container c4
pid_attach() { # PID SERVICE EXTRA
  lc_must a '{"op":"attach_container","handle":{"platform":"linux_pid","pid":'"$1"'},"service":"'"$2"'","join_global":'"$3"',"ephemeral":false'"${4:-}"'}'
}
pid_attach "$c1" web true ',"isolation_network":"net-a"'
pid_attach "$c2" sh1 false
pid_attach "$c3" sh2 false ',"isolation_network":"net-a"'
pid_attach "$c4" db false
lc_must a '{"op":"attach_container","handle":{"platform":"host_shared","id":"h1"},"service":"web","join_global":false,"ephemeral":false}'
lc_must a '{"op":"attach_container","handle":{"platform":"guest_managed","id":"g1"},"service":"web","join_global":false,"ephemeral":false}'
lc_must a '{"op":"attach_container","handle":{"platform":"guest_managed","id":"g2"},"service":"db","join_global":false,"ephemeral":false}'
lc_must a '{"op":"allocate_ip","service":"web","join_global":false}'
lc_must a '{"op":"register_dns","name":"web.overlay","ip":"10.200.0.2"}'

lc_check "forwarding is on while containers are attached" \
  test "$(ip netns exec "$n1" sysctl -n net.ipv4.ip_forward)" == 1
lc_check "the daemon's iptables chains are in place" \
  bash -c "ip netns exec $n1 iptables-save | grep ZLAYER >/dev/null"
lc_check "node a changed while running (the snapshot sees the work)" \
  bash -c '[[ $1 != "$2" ]]' _ "$before1" "$(lc_snapshot "$n1")"
if [[ -d /etc/systemd/network ]]; then
  lc_check "a networkd drop-in was written (into the daemon's private view)" \
    test -n "$(find "$lc_work/a/dropins/networkd" -type f)"
fi

lc_must a '{"op":"shutdown"}'
lc_must b '{"op":"shutdown"}'
lc_daemon_wait a
lc_daemon_wait b

lc_check "node a: links, addresses, routes, rules, iptables and sysctls as before" \
  lc_same_snapshot "node a" "$before1" "$(lc_snapshot "$n1")"
lc_check "node b: links, addresses, routes, rules, iptables and sysctls as before" \
  lc_same_snapshot "node b" "$before2" "$(lc_snapshot "$n2")"
lc_check "no drop-in is left" \
  test -z "$(find "$lc_work"/*/dropins -type f)"
lc_check "the containers' namespaces have only lo left" test "$(
  for c in "$c1" "$c2" "$c3" "$c4"; do lc_in_container "$c" ip -o link show; done | grep -vc ': lo:'
)" == 0
lc_finish
