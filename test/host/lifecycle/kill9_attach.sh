#!/usr/bin/env bash
# kill9_attach: the daemon is killed with SIGKILL in the middle of a
# container attach. A daemon restarted on the same data dir cleans up after
# it through the ordinary requests: prune_orphan_bridges with an empty live
# list reclaims the stale bridge without members and spares one that still
# has a member (the zero-member guard), detaching the containers (which the
# new daemon never saw) removes their veths, and teardown plus shutdown
# leave no link, veth, bridge, route, iptables rule or chain of the daemon,
# and ip_forward back at the value the host had before the first daemon
# (not the 1 the killed daemon left).
source "$(dirname "$0")/lib.sh"
lc_begin k9

lc_ns node node
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=0
before=$(lc_snapshot "$node")

global='{"op":"setup_global_overlay","deployment":"lc","instance_id":"k9","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/28","wg_port":51820}'
attach() { # PID SERVICE
  printf '{"op":"attach_container","handle":{"platform":"linux_pid","pid":%s},"service":"%s","join_global":true,"ephemeral":false,"isolation_network":"net-a"}' "$1" "$2"
}
detach() { printf '{"op":"detach_container","handle":{"platform":"linux_pid","pid":%s}}' "$1"; }
# ours NS: every trace of the daemon in the namespace, one per line.
ours() {
  lc_links_matching "$1" '^(zl-|veth-|vc-)'
  ip netns exec "$1" iptables-save | grep -iE 'zlayer|overlay' || true
  ip -n "$1" route show table all | grep -E '10\.200\.|zl-|veth-' || true
}

lc_daemon_start a "$node"
lc_must a "$global"
lc_must a '{"op":"setup_service_overlay","service":"web","mode":"auto"}'
web_bridge=$(lc_json "$LC_R" 'r["name"]')
lc_must a '{"op":"setup_service_overlay","service":"old","mode":"auto"}'
old_bridge=$(lc_json "$LC_R" 'r["name"]')

# c0 is attached completely (forwarding is on from here), c1's attach is
# cut short: the daemon dies as soon as c1's host veth exists.
lc_container c0
lc_container c1
lc_must a "$(attach "$c0" web)"
c0_ip=$(lc_json "$LC_R" 'r["ip"]')
gw=$(ip -n "$node" -o -4 addr show dev "$web_bridge" | awk '{print $4}' | cut -d/ -f1)
lc_check "c0 reaches its bridge gateway $gw" bash -c "nsenter -t $c0 -n ping -n -q -c 1 -W 2 $gw >/dev/null"
"$OVERLAYCTL" --socket "$lc_work/a.sock" raw "$(attach "$c1" web)" >"$lc_work/c1-attach.out" 2>&1 &
attach_pid=$!
lc_pids+=("$attach_pid")
for ((i = 0; i < 1000; i++)); do
  lc_has_link "$node" "veth-$c1-s" && break
  sleep 0.005
done
lc_daemon_kill9 a
wait "$attach_pid" 2>/dev/null
lc_check "the daemon died mid-attach (c1's veth existed at the kill)" lc_has_link "$node" "veth-$c1-s"
lc_log "c1's attach client saw: $(cat "$lc_work/c1-attach.out")"
lc_log "left behind by the killed daemon:"
ours "$node" | sed 's/^/#   /' >&2
lc_check "the crash left the bridges and the daemon's iptables chains" \
  bash -c "ip -n $node link show $old_bridge >/dev/null && ip netns exec $node iptables-save | grep ZLAYER >/dev/null"
lc_check "and ip_forward=1" test "$(ip netns exec "$node" sysctl -n net.ipv4.ip_forward)" == 1

# The restarted daemon knows nothing of web, old, c0 or c1.
lc_daemon_start a "$node"
lc_must a "$global"
lc_must a '{"op":"prune_orphan_bridges","live_bridge_names":[]}'
lc_check "prune with an empty live list reclaims only the memberless $old_bridge" \
  test "$(lc_json "$LC_R" 'r["reclaimed"]')" == "[\"$old_bridge\"]"
lc_check "$web_bridge, which still has c0 as a member, stays" lc_has_link "$node" "$web_bridge"
lc_check "$old_bridge is gone" lc_no_link "$node" "$old_bridge"

for c in "$c0" "$c1"; do
  lc_must a "$(detach "$c")"
done
lc_check "the detaches removed every veth of c0 and c1" \
  test -z "$(lc_links_matching "$node" "^(veth|vc)-($c0|$c1)-")"
lc_check "c0's namespace has nothing of ours left" \
  test "$(lc_in_container "$c0" ip -o link show | grep -vc ': lo:')" == 0
lc_must a '{"op":"prune_orphan_bridges","live_bridge_names":[]}'
lc_check "with its last member gone, $web_bridge is reclaimed" \
  test "$(lc_json "$LC_R" 'r["reclaimed"]')" == "[\"$web_bridge\"]"
lc_must a '{"op":"prune_orphan_bridges","live_bridge_names":[]}'
lc_check "a second prune has nothing left to reclaim" \
  test "$(lc_json "$LC_R" 'r["reclaimed"]')" == "[]"

# The restarted daemon attaches a container of its own: it finds
# ip_forward=1 (the killed daemon's doing), and must still put back the 0
# the host had before either daemon.
lc_must a '{"op":"setup_service_overlay","service":"late","mode":"auto"}'
lc_container c2
lc_must a "$(attach "$c2" late)"
lc_must a "$(detach "$c2")"
lc_must a '{"op":"teardown_service_overlay","service":"late"}'

lc_must a '{"op":"teardown_service_overlay","service":"web"}'
lc_must a '{"op":"teardown_global_overlay"}'
lc_must a '{"op":"shutdown"}'
lc_daemon_wait a
left=$(ours "$node")
lc_check "no link, chain, rule or route of the daemon is left" test -z "$left"
[[ -n $left ]] && printf '#   %s\n' $left
lc_check "ip_forward is back at the host's 0, not the killed daemon's 1" \
  test "$(ip netns exec "$node" sysctl -n net.ipv4.ip_forward)" == 0
lc_check "the node is left as found" lc_same_snapshot node "$before" "$(lc_snapshot "$node")"
lc_finish
