#!/usr/bin/env bash
# guest_managed: an attach with a guest_managed handle answers a WireGuard
# config for the guest (its own key pair, the node as its single peer).
# A "guest" namespace, linked to the node by a veth, brings that config up
# on a userspace WireGuard device (our overlay-wg, driven with wg(8) over
# its UAPI, like wireguard-go) and pings the node's overlay address. Three
# guests: one drawing its address from the node slice (a service without a
# bridge), one from an auto service's bridge, one on a dedicated service's
# own device. Detach removes the guest's peer, after which the guest no
# longer gets through. The node is left exactly as found.
source "$(dirname "$0")/lib.sh"
lc_begin gm

if [[ -x $OVERLAY_WG ]]; then
  guest_wg=$OVERLAY_WG
else
  guest_wg=$(command -v wireguard-go) || lc_fatal "no overlay-wg nor wireguard-go"
fi
lc_log "guest WireGuard: $guest_wg"

lc_ns node node
lc_ns guest guest
lc_link "$node" 198.18.1.1/24 "$guest" 198.18.1.2/24
before=$(lc_snapshot "$node")

lc_daemon_start a "$node"
lc_must a '{"op":"setup_global_overlay","deployment":"lc","instance_id":"gm","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/28","wg_port":51820}'
lc_must a '{"op":"status"}'
node_key=$(lc_json "$LC_R" 'r["public_key"]')
node_ip=$(lc_json "$LC_R" 'r["node_ip"]')
lc_must a '{"op":"setup_service_overlay","service":"web","mode":"auto"}'
lc_must a '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}'
db_key=$(lc_json "$LC_R" 'r["wg_public_key"]')
db_port=$(lc_json "$LC_R" 'r["wg_port"]')
db_ip=$(lc_json "$LC_R" 'r["overlay_ip"]')
db_subnet=$(lc_json "$LC_R" 'r["subnet"]')

# guest_up IFNAME CONFIG_JSON: brings the config up in the guest namespace.
# The config's endpoint names the node by its overlay address, a
# placeholder that the guest's runtime rewrites to the node address the
# guest can reach (the reference says so); here that is the node's end of
# the veth, with the port the config gives.
guest_up() {
  local ifname=$1 cfg=$2 i
  # A socket file left by an earlier run that was killed would pass for
  # this device's before it listens.
  rm -f "/var/run/wireguard/$ifname.sock"
  WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
    ip netns exec "$guest" "$guest_wg" "$ifname" >>"$lc_work/guest-$ifname.log" 2>&1 &
  lc_pids+=("$!")
  for ((i = 0; i < 250; i++)); do
    [[ -S /var/run/wireguard/$ifname.sock ]] && break
    sleep 0.02
  done
  local port
  port=$(lc_json "$cfg" 'r["peers"][0]["endpoint"].rsplit(":", 1)[1]')
  cat >"$lc_work/$ifname.conf" <<EOF
[Interface]
PrivateKey = $(lc_json "$cfg" 'r["private_key"]')

[Peer]
PublicKey = $(lc_json "$cfg" 'r["peers"][0]["public_key"]')
Endpoint = 198.18.1.1:$port
AllowedIPs = $(lc_json "$cfg" 'r["peers"][0]["allowed_ips"]')
PersistentKeepalive = $(lc_json "$cfg" 'r["peers"][0]["persistent_keepalive_secs"]')
EOF
  ip netns exec "$guest" wg setconf "$ifname" "$lc_work/$ifname.conf" \
    || lc_fatal "wg setconf $ifname"
  ip -n "$guest" addr add \
    "$(lc_json "$cfg" 'r["overlay_ip"]')/$(lc_json "$cfg" 'r["prefix_len"]')" dev "$ifname"
  ip -n "$guest" link set "$ifname" up
  ip -n "$guest" route replace "$(lc_json "$cfg" 'r["peers"][0]["allowed_ips"]')" dev "$ifname"
}

# node_peer_of DEVICE_STATUS_PEERS KEY: the node's view of a guest, by the
# hex key status reports.
hex_of() { printf '%s' "$1" | base64 -d | od -An -tx1 | tr -d ' \n'; }

# guest_case ID SERVICE IFNAME TARGET: attach, check the config, bring it
# up, ping TARGET (the node's address on the guest's peer device), detach.
guest_case() {
  local id=$1 service=$2 ifname=$3 target=$4
  lc_log "---- guest $id on service $service"
  lc_must a '{"op":"attach_container","handle":{"platform":"guest_managed","id":"'"$id"'"},"service":"'"$service"'","join_global":true,"ephemeral":false,"dns_server":"10.200.0.1","dns_domain":"overlay"}'
  local cfg=$LC_R
  lc_check "$id: the answer is a guest_config" test "$(lc_json "$cfg" 'r["result"]')" == guest_config
  lc_check "$id: exactly one peer, the node" test "$(lc_json "$cfg" 'len(r["peers"])')" == 1
  local derived
  derived=$(lc_json "$cfg" 'r["private_key"]' | wg pubkey)
  lc_check "$id: the public key belongs to the private key" \
    test "$derived" == "$(lc_json "$cfg" 'r["public_key"]')"
  lc_check "$id: dns values come back" \
    test "$(lc_json "$cfg" 'r["dns_server"] + " " + r["dns_domain"]')" == "10.200.0.1 overlay"
  if [[ $service == db ]]; then
    lc_check "$id: the peer is db's dedicated device (key, port, subnet)" test \
      "$(lc_json "$cfg" 'r["peers"][0]["public_key"] + " " + r["peers"][0]["endpoint"] + " " + r["peers"][0]["allowed_ips"] + " " + str(r["listen_port"])')" \
      == "$db_key $node_ip:$db_port $db_subnet $db_port"
  else
    lc_check "$id: the peer is the node's global device (key, endpoint, cluster)" test \
      "$(lc_json "$cfg" 'r["peers"][0]["public_key"] + " " + r["peers"][0]["endpoint"] + " " + r["peers"][0]["allowed_ips"] + " " + str(r["listen_port"])')" \
      == "$node_key $node_ip:51820 10.200.0.0/16 51820"
  fi
  guest_up "$ifname" "$cfg"
  lc_check "$id: the guest pings the node at $target" lc_ping "$guest" "$target" 3
  lc_must a '{"op":"status"}'
  local hex
  hex=$(hex_of "$(lc_json "$cfg" 'r["public_key"]')")
  local seen
  if [[ $service == db ]]; then
    seen=$(lc_json "$LC_R" '[s["peer_count"] for s in r.get("dedicated_services", []) if s["service"] == "db"]')
    lc_check "$id: the dedicated device has the guest as its peer" test "$seen" == "[1]"
  else
    seen=$(lc_json "$LC_R" '[p["allowed_ips"] for p in r.get("peers", []) if p["public_key"] == "'"$hex"'" and p["last_handshake_unix_secs"] > 0]')
    lc_check "$id: the node lists the guest, shaken hands, allowed its /32" \
      test "$seen" == "[\"$(lc_json "$cfg" 'r["overlay_ip"]')/32\"]"
  fi
  lc_must a '{"op":"detach_container","handle":{"platform":"guest_managed","id":"'"$id"'"}}'
  lc_must a '{"op":"status"}'
  lc_check "$id: detach removed the guest's peer" \
    test "$(lc_json "$LC_R" '[p for p in r.get("peers", []) if p["public_key"] == "'"$hex"'"] + [s for s in r.get("dedicated_services", []) if s["peer_count"] > 0]')" == "[]"
  lc_check "$id: the guest no longer gets through" \
    bash -c "! ip netns exec $guest ping -n -q -c 1 -W 1 $target >/dev/null"
  ip -n "$guest" link del "$ifname" 2>/dev/null
}

guest_case vm-slice plain lc-gm-s "$node_ip"
guest_case vm-bridge web lc-gm-b "$node_ip"
guest_case vm-dedicated db lc-gm-d "$db_ip"

lc_check "a guest_managed detach of an unknown id is ok" \
  lc_req a '{"op":"detach_container","handle":{"platform":"guest_managed","id":"never"}}'

lc_must a '{"op":"teardown_service_overlay","service":"web"}'
lc_must a '{"op":"teardown_service_overlay","service":"db"}'
lc_must a '{"op":"shutdown"}'
lc_daemon_wait a
lc_check "the node is left as found" lc_same_snapshot node "$before" "$(lc_snapshot "$node")"
lc_finish
