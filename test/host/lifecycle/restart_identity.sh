#!/usr/bin/env bash
# restart_identity: a dedicated service keeps its WireGuard identity across
# daemon restarts. Setup answers a public key and a port; after an in-band
# shutdown, and again after a kill -9, a daemon started on the same data
# dir answers the same key and port for the same service (and its device
# really listens on that port), while another service gets another port.
# Tearing the service down forgets the identity: the next setup makes a new
# key. The node is left exactly as found.
source "$(dirname "$0")/lib.sh"
lc_begin ri

lc_ns node node
before=$(lc_snapshot "$node")

global='{"op":"setup_global_overlay","deployment":"lc","instance_id":"ri","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/28","wg_port":51820}'
setup_db='{"op":"setup_service_overlay","service":"db","mode":"dedicated"}'

# identity: key and port of service db as setup answered them, and as
# status reports them.
identity() { lc_json "$1" 'r["wg_public_key"] + " " + str(r["wg_port"])'; }
status_identity() {
  lc_must a '{"op":"status"}'
  lc_json "$LC_R" '" ".join(s["public_key"] + " " + str(s["listen_port"]) for s in r.get("dedicated_services", []) if s["service"] == "db")'
}
# listens PORT: a UDP socket of the node's namespace is bound to PORT.
listens() { ip netns exec "$node" ss -Hlun "sport = :$1" | grep . >/dev/null; }

lc_daemon_start a "$node"
lc_must a "$global"
lc_must a "$setup_db"
first=$(identity "$LC_R")
port=${first#* }
lc_log "first identity: $first"
lc_check "status reports the identity setup answered" test "$(status_identity)" == "$first"
lc_check "the dedicated device listens on its port $port" listens "$port"
lc_check "setup again in the same daemon: same identity (idempotent)" \
  bash -c '[[ $("$0" --socket "$1" raw "$2") == *"\"wg_public_key\":\"${3% *}\",\"wg_port\":${3#* },"* ]]' \
  "$OVERLAYCTL" "$lc_work/a.sock" "$setup_db" "$first"

# 1. In-band shutdown, then a new daemon on the same data dir.
lc_must a '{"op":"shutdown"}'
lc_daemon_wait a
lc_check "after shutdown nothing listens on $port" bash -c "! ip netns exec $node ss -Hlun 'sport = :$port' | grep . >/dev/null"
lc_daemon_start a "$node"
lc_must a "$global"
lc_must a "$setup_db"
lc_check "after a shutdown and restart: same key and port" test "$(identity "$LC_R")" == "$first"
lc_check "status agrees" test "$(status_identity)" == "$first"
lc_check "the device listens on $port again" listens "$port"
lc_must a '{"op":"setup_service_overlay","service":"cache","mode":"dedicated"}'
other_port=$(lc_json "$LC_R" 'str(r["wg_port"])')
lc_check "another dedicated service gets another port ($other_port)" test "$other_port" != "$port"

# 2. kill -9: nothing is reverted, the marker is all that is left.
lc_daemon_kill9 a
lc_daemon_start a "$node"
lc_must a "$global"
lc_must a "$setup_db"
lc_check "after a kill -9 and restart: same key and port" test "$(identity "$LC_R")" == "$first"
lc_check "the device listens on $port again" listens "$port"
lc_must a '{"op":"setup_service_overlay","service":"cache","mode":"dedicated"}'
lc_check "cache kept its port too" test "$(lc_json "$LC_R" 'str(r["wg_port"])')" == "$other_port"

# 3. Teardown forgets the identity (the marker entry goes).
lc_must a '{"op":"teardown_service_overlay","service":"db"}'
lc_must a '{"op":"teardown_service_overlay","service":"cache"}'
lc_must a '{"op":"shutdown"}'
lc_daemon_wait a
lc_daemon_start a "$node"
lc_must a "$global"
lc_must a "$setup_db"
lc_check "after teardown the service gets a new key" \
  test "$(lc_json "$LC_R" 'r["wg_public_key"]')" != "${first% *}"
lc_must a '{"op":"teardown_service_overlay","service":"db"}'
lc_must a '{"op":"shutdown"}'
lc_daemon_wait a

lc_check "the node is left as found" lc_same_snapshot node "$before" "$(lc_snapshot "$node")"
lc_finish
