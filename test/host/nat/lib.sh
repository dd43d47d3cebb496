# shellcheck shell=bash
# shellcheck disable=SC2034 # NT_* globals are read by the scripts that source this
# A simulated internet for NAT traversal tests, driven only over the IPC.
#
#                      nt-TAG-pub  (203.0.113.1 on lo: coturn STUN-only on
#                      /        \   :3478, an overlayd relay on :3479)
#          100.64.1.0/24        100.64.2.0/24
#             nt-TAG-ra            nt-TAG-rb      routers: MASQUERADE out of
#             |  br0 192.168.1.1   |  br0 192.168.2.1   wan, FORWARD drops
#         nodes behind ra      nodes behind rb          what the LAN did not ask for
#
# A node is a namespace on its router's LAN bridge running one overlayd.
# Everything is recorded and removed by nt_cleanup (the EXIT trap), also on
# failure: daemons (shutdown over the IPC, then signals), coturn, namespaces,
# files. Afterwards no nt-TAG-* namespace may be left.
#
# Needs: root, iproute2, iptables, ping, coturn (turnserver), jq, and the
# OVERLAYD / OVERLAYCTL binaries.

# shellcheck source=../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

nt_say() { printf '== %s\n' "$*"; }
nt_fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

NT_TAG=''
NT_WORK=''
NT_NETNS=()
NT_NODES=()
NT_COTURN_PID=''
declare -A NT_NS=() NT_DAEMON=() NT_SOCK=() NT_DIR=() NT_KEY=() NT_NODE_IP=()
declare -A NT_SLICE=() NT_LAN_IP=()
NT_PUBLIC=203.0.113.1
NT_STUN="$NT_PUBLIC:3478"
NT_RELAY="$NT_PUBLIC:3479"
NT_SECRET=nat-test-cluster-secret

# nt_begin TAG: namespaces of this run are named nt-TAG-*.
nt_begin() {
  NT_TAG=$1
  if [[ $(id -u) != 0 ]]; then
    echo "needs root (namespaces, TUN, iptables)"
    exit 77
  fi
  command -v turnserver >/dev/null || {
    echo "coturn (turnserver) is not installed"
    exit 77
  }
  [[ -x ${OVERLAYD:-} && -x ${OVERLAYCTL:-} ]] \
    || nt_fail "OVERLAYD / OVERLAYCTL do not name the built binaries"
  local stale
  for stale in $(ip netns list | awk '{print $1}' | grep -E "^nt-$NT_TAG-" || true); do
    ip netns pids "$stale" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$stale" 2>/dev/null || true
  done
  NT_WORK=$(mktemp -d "/tmp/nt-$NT_TAG.XXXXXX")
  trap nt_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

nt_ns() {
  local ns="nt-$NT_TAG-$1"
  ip netns add "$ns"
  NT_NETNS+=("$ns")
  NT_NS[$1]=$ns
  ip -n "$ns" link set lo up
}

nt_in() {
  local who=$1
  shift
  ip netns exec "${NT_NS[$who]}" "$@"
}

# nt_internet: the public namespace, coturn, and routers ra and rb.
nt_internet() {
  nt_ns pub
  ip -n "${NT_NS[pub]}" addr add "$NT_PUBLIC/32" dev lo
  nt_in pub sysctl -qw net.ipv4.ip_forward=1
  nt_router ra 1
  nt_router rb 2
  nt_coturn
}

# nt_router NAME N: wan 100.64.N.2 (pub is 100.64.N.1), LAN bridge
# 192.168.N.1/24, masquerading, stateful forward filter.
nt_router() {
  local r=$1 n=$2
  nt_ns "$r"
  ip link add wan netns "${NT_NS[$r]}" type veth peer name "w$r" netns "${NT_NS[pub]}"
  ip -n "${NT_NS[$r]}" addr add "100.64.$n.2/24" dev wan
  ip -n "${NT_NS[pub]}" addr add "100.64.$n.1/24" dev "w$r"
  ip -n "${NT_NS[$r]}" link set wan up
  ip -n "${NT_NS[pub]}" link set "w$r" up
  ip -n "${NT_NS[$r]}" route add default via "100.64.$n.1"
  ip -n "${NT_NS[$r]}" link add br0 type bridge
  ip -n "${NT_NS[$r]}" addr add "192.168.$n.1/24" dev br0
  ip -n "${NT_NS[$r]}" link set br0 up
  nt_in "$r" sysctl -qw net.ipv4.ip_forward=1
  nt_in "$r" iptables -P FORWARD DROP
  nt_in "$r" iptables -A FORWARD -i br0 -o wan -j ACCEPT
  nt_in "$r" iptables -A FORWARD -i br0 -o br0 -j ACCEPT
  nt_in "$r" iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  # Nothing from the internet reaches the router itself either.
  nt_in "$r" iptables -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  nt_in "$r" iptables -A INPUT -i wan -j DROP
  nt_nat_mode "$r" preserving
}

# nt_nat_mode ROUTER preserving|symmetric: port-preserving MASQUERADE, or
# MASQUERADE --random-fully (a new random port per destination).
nt_nat_mode() {
  local r=$1 mode=$2
  nt_in "$r" iptables -t nat -F POSTROUTING
  if [[ $mode == symmetric ]]; then
    nt_in "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully
  else
    nt_in "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
  fi
}

# nt_forget_mappings ROUTER...: the routers drop every connection-tracking
# entry (as after a reboot), so that a change of NAT type applies to every
# flow, not only to new ones. One ctnetlink IPCTNL_MSG_CT_DELETE without
# attributes flushes the IPv4 table (there is no conntrack tool here).
nt_forget_mappings() {
  local r
  for r in "$@"; do
    nt_in "$r" python3 -c '
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
msg_type = (1 << 8) | 2              # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE
nfgen = struct.pack("BBH", socket.AF_INET, 0, 0)
hdr = struct.pack("=IHHII", 16 + len(nfgen), msg_type, 0x1 | 0x4, 1, 0)  # REQUEST|ACK
s.send(hdr + nfgen)
ack = s.recv(4096)
err = struct.unpack("=i", ack[16:20])[0]
raise SystemExit(0 if err == 0 else "conntrack flush failed: %d" % err)
' || nt_fail "flushing the connection tracking of $r"
  done
}

nt_coturn() {
  mkdir -p "$NT_WORK/coturn"
  nt_in pub turnserver -n --stun-only --listening-ip="$NT_PUBLIC" \
    --listening-port=3478 --no-tls --no-dtls --no-cli --log-file=stdout \
    --simple-log --db="$NT_WORK/coturn/turndb" \
    --pidfile="$NT_WORK/coturn/turnserver.pid" >"$NT_WORK/coturn/log" 2>&1 &
  NT_COTURN_PID=$!
  local i
  for i in $(seq 100); do
    nt_in pub ss -lun 2>/dev/null | grep -q "$NT_PUBLIC:3478" && return 0
    kill -0 "$NT_COTURN_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$NT_WORK/coturn/log" >&2
  nt_fail "coturn did not come up"
}

# nt_node NAME ROUTER HOST: a node namespace on ROUTER's LAN, 192.168.N.HOST.
nt_node() {
  local name=$1 r=$2 host=$3 n
  n=$(ip -n "${NT_NS[$r]}" -4 -o addr show br0 | sed -n 's/.*192\.168\.\([0-9]*\)\.1.*/\1/p')
  nt_ns "$name"
  ip link add "l$name" netns "${NT_NS[$r]}" type veth peer name lan0 netns "${NT_NS[$name]}"
  ip -n "${NT_NS[$r]}" link set "l$name" master br0 up
  ip -n "${NT_NS[$name]}" addr add "192.168.$n.$host/24" dev lan0
  ip -n "${NT_NS[$name]}" link set lan0 up
  ip -n "${NT_NS[$name]}" route add default via "192.168.$n.1"
  NT_LAN_IP[$name]=192.168.$n.$host
}

# nt_daemon NODE [EXTRA_TOML]: overlayd in the node's namespace.
nt_daemon() {
  local node=$1 dir="$NT_WORK/$1"
  mkdir -p "$dir/wg"
  {
    printf '[engine]\nbackend = "real"\nuapi_dir = "%s/wg"\n' "$dir"
    printf '%s\n' "${2:-}"
  } >"$dir/overlayd.toml"
  NT_DIR[$node]=$dir
  NT_SOCK[$node]=$dir/overlayd.sock
  nt_in "$node" "$OVERLAYD" --config "$dir/overlayd.toml" --data-dir "$dir" \
    --socket "${NT_SOCK[$node]}" --log-level "${NT_LOG_LEVEL:-info}" >"$dir/overlayd.log" 2>&1 &
  NT_DAEMON[$node]=$!
  NT_NODES+=("$node")
  wait_for_overlayd "${NT_SOCK[$node]}" "${NT_DAEMON[$node]}" && return 0
  cat "$dir/overlayd.log" >&2
  nt_fail "overlayd of $node did not come up"
}

# nt_ctl NODE JSON: one request; the response in NT_OUT; status 1 on err.
NT_OUT=''
nt_ctl() {
  local rc=0
  NT_OUT=$("$OVERLAYCTL" --socket "${NT_SOCK[$1]}" raw "$2" 2>&1) || rc=$?
  printf '  %s <- %s\n' "$1" "$NT_OUT"
  return "$rc"
}

# The NAT config every test node uses: only the namespace STUN server (never
# the public default), our relay (if this run has one) as the only TURN
# server, short punches.
nt_nat_json() {
  local punch=${1:-3} turn=''
  # Only runs with a relay node name it (an unanswered allocation costs
  # the first tick its 5 s timeout).
  [[ -n ${NT_NS[relay]:-} ]] \
    && turn=$(printf '{"addr":"%s","username":"node","credential":"%s"}' "$NT_RELAY" "$NT_SECRET")
  printf '{"enabled":true,"stun_servers":["%s"],"turn_servers":[%s],"hole_punch_timeout_secs":%s,"stun_refresh_interval_secs":60,"max_candidate_pairs":10}' \
    "$NT_STUN" "$turn" "$punch"
}

# nt_global NODE ID SLICE [PUNCH_SECS]: node id + global overlay with NAT.
nt_global() {
  nt_ctl "$1" "{\"op\":\"set_local_node_id\",\"node_id\":$2}" || nt_fail "node id of $1"
  nt_ctl "$1" "{\"op\":\"setup_global_overlay\",\"deployment\":\"nat\",\"instance_id\":\"$1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"$3\",\"wg_port\":51820,\"nat\":$(nt_nat_json "${4:-3}")}" \
    || nt_fail "global overlay of $1"
  nt_ctl "$1" '{"op":"status"}'
  NT_KEY[$1]=$(jq -r .public_key <<<"$NT_OUT")
  NT_NODE_IP[$1]=$(jq -r .node_ip <<<"$NT_OUT")
  NT_SLICE[$1]=$3
}

# nt_relay_node: overlayd in the public namespace whose only job is the
# built-in relay server (started by its first tick).
nt_relay_node() {
  NT_NS[relay]=${NT_NS[pub]}
  nt_daemon relay
  nt_ctl relay "{\"op\":\"setup_global_overlay\",\"deployment\":\"nat\",\"instance_id\":\"relay\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.0.32/28\",\"wg_port\":51830,\"nat\":{\"enabled\":true,\"stun_servers\":[\"$NT_STUN\"],\"relay_server\":{\"listen_port\":3479,\"external_addr\":\"$NT_RELAY\",\"max_sessions\":${NT_RELAY_MAX_SESSIONS:-10},\"auth_credential\":\"$NT_SECRET\"}}}" \
    || nt_fail "global overlay of the relay node"
  nt_ctl relay '{"op":"nat_tick"}' || nt_fail "first tick of the relay node"
  nt_in pub ss -lun | grep -q ":3479" || nt_fail "the relay server does not listen on :3479"
}

# nt_node_pair ROUTER_A HOST_A ROUTER_B HOST_B: nodes a and b on those
# routers' LANs, a daemon each, node ids 1 and 2 with slices 10.200.0.0/28
# and 10.200.0.16/28 on the global overlay.
nt_node_pair() {
  nt_node a "$1" "$2"
  nt_node b "$3" "$4"
  nt_daemon a
  nt_daemon b
  nt_global a 1 10.200.0.0/28
  nt_global b 2 10.200.0.16/28
}

# nt_first_ticks: both nodes tick once; their candidates are printed and
# left in NT_CA and NT_CB (JSON arrays).
NT_CA='' NT_CB=''
nt_first_ticks() {
  nt_tick a
  nt_tick b
  NT_CA=$(nt_candidates a)
  NT_CB=$(nt_candidates b)
  echo "  a: $NT_CA"
  echo "  b: $NT_CB"
}

# nt_tick NODE: one nat_tick (must answer ok).
nt_tick() { nt_ctl "$1" '{"op":"nat_tick"}' || nt_fail "nat_tick on $1"; }

# nt_candidates NODE: the node's own candidates as a JSON array (nat_status).
nt_candidates() {
  nt_ctl "$1" '{"op":"nat_status"}' >/dev/null
  jq -c '[.candidates[] | {candidate_type, address, priority}]' <<<"$NT_OUT"
}

# nt_peer NODE OTHER CANDIDATES_JSON: OTHER becomes NODE's global peer with
# no endpoint yet; only its candidates say where it might be.
nt_peer() {
  nt_ctl "$1" "{\"op\":\"add_peer\",\"public_key\":\"${NT_KEY[$2]}\",\"endpoint\":\"0.0.0.0:0\",\"allowed_ips\":\"${NT_SLICE[$2]}\",\"persistent_keepalive_secs\":5,\"candidates\":$3,\"scope\":{\"scope\":\"global\"}}" \
    || nt_fail "add_peer $2 on $1"
}

# nt_connection NODE OTHER: OTHER's connection type in NODE's nat_status
# ("" while there is none).
nt_connection() {
  "$OVERLAYCTL" --socket "${NT_SOCK[$1]}" raw '{"op":"nat_status"}' 2>/dev/null \
    | jq -r --arg k "${NT_KEY[$2]}" '.peers[] | select(.node_id == $k) | .connection_type' 2>/dev/null
}

# nt_wait_connection NODE OTHER TYPE SECS: polls nat_status (1 s) until
# OTHER's connection type is TYPE; fails with what it saw after SECS.
nt_wait_connection() {
  local i seen=''
  for i in $(seq "$4"); do
    seen=$(nt_connection "$1" "$2")
    [[ $seen == "$3" ]] && {
      printf '  %s sees %s as %s after %ss\n' "$1" "$2" "$3" "$i"
      return 0
    }
    sleep 1
  done
  nt_diagnose
  nt_fail "$1 sees $2 as '${seen}', not $3"
}

# nt_ping NODE OTHER: NODE reaches OTHER's overlay IP (first reply within 10 s).
nt_ping() {
  if ! nt_in "$1" ping -n -c 1 -w 10 "${NT_NODE_IP[$2]}" >/dev/null; then
    nt_diagnose
    nt_fail "$1 cannot ping $2 (${NT_NODE_IP[$2]}) over the overlay"
  fi
  nt_in "$1" ping -n -c 3 -i 0.2 -w 5 "${NT_NODE_IP[$2]}" | tail -n 2 | sed 's/^/  /' \
    || nt_fail "$1 loses packets to $2"
}

# nt_shutdown NODE: the in-band shutdown; the daemon (its NAT ticker, relay
# clients and relay path included) must exit 0 within 5 s.
nt_shutdown() {
  local pid=${NT_DAEMON[$1]} i
  nt_ctl "$1" '{"op":"shutdown"}' || nt_fail "shutdown of $1"
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && nt_fail "overlayd of $1 still runs 5 s after shutdown"
  wait "$pid" || nt_fail "overlayd of $1 exited with status $?"
  unset "NT_DAEMON[$1]"
  echo "  overlayd of $1 exited 0"
}

nt_diagnose() {
  local node
  for node in "${NT_NODES[@]}"; do
    echo "--- $node" >&2
    {
      "$OVERLAYCTL" --socket "${NT_SOCK[$node]}" raw '{"op":"status"}'
      "$OVERLAYCTL" --socket "${NT_SOCK[$node]}" raw '{"op":"nat_status"}'
      tail -n 30 "${NT_DIR[$node]}/overlayd.log"
    } >&2 2>&1 || true
  done
}

nt_cleanup() {
  local rc=$? node pid i
  set +e
  trap - EXIT INT TERM
  for node in "${!NT_DAEMON[@]}"; do
    stop_overlayd "${NT_SOCK[$node]}" "${NT_DAEMON[$node]}"
  done
  if [[ -n $NT_COTURN_PID ]]; then
    kill -TERM "$NT_COTURN_PID" 2>/dev/null
    for i in $(seq 50); do
      kill -0 "$NT_COTURN_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$NT_COTURN_PID" 2>/dev/null
    wait "$NT_COTURN_PID" 2>/dev/null
  fi
  for ((i = ${#NT_NETNS[@]} - 1; i >= 0; i--)); do
    ip netns pids "${NT_NETNS[$i]}" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "${NT_NETNS[$i]}" 2>/dev/null
  done
  [[ -n $NT_WORK ]] && rm -rf "$NT_WORK"
  if ip netns list | awk '{print $1}' | grep -qE "^nt-$NT_TAG-"; then
    printf 'FAIL: namespaces left: %s\n' "$(ip netns list | grep -E "^nt-$NT_TAG-" | tr '\n' ' ')" >&2
    rc=1
  fi
  exit "$rc"
}
