# shellcheck shell=bash
# shellcheck disable=SC2034 # ND_IP, ND_OUT, ... are read by the scripts that source this
# Two-node overlay harness, shared by scripts/demo.sh and the host tests of
# this directory. A "node" is a network namespace running one overlayd with
# its own data dir, socket and UAPI dir; nodes are joined by a veth
# "underlay"; a "container" is a sleeping process in a namespace of its own.
# The daemons are driven only through `overlayctl raw`, with the JSON that
# ZLayer's main daemon sends (spec ipc.md §4).
#
# Everything created here is recorded and removed by nd_cleanup (the EXIT
# trap that nd_begin installs), also when a step fails: daemons are shut
# down over the IPC (then signalled), containers killed, namespaces and
# files deleted. Afterwards it checks that the root namespace gained no
# zl-*/veth* links and that no namespace of this run is left.
#
# Needs: OVERLAYD and OVERLAYCTL (paths of the binaries), root, iproute2,
# iptables, ping.

# shellcheck source=../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

# -- output -------------------------------------------------------------------

if [[ -t 1 ]]; then
  nd_bold=$'\033[1m' nd_dim=$'\033[2m' nd_red=$'\033[31m' nd_green=$'\033[32m'
  nd_off=$'\033[0m'
else
  nd_bold='' nd_dim='' nd_red='' nd_green='' nd_off=''
fi

nd_step() { printf '\n%s== %s%s\n' "$nd_bold" "$*" "$nd_off"; }
nd_note() { printf '%s%s%s\n' "$nd_dim" "$*" "$nd_off"; }
nd_ok() { printf '%sok%s: %s\n' "$nd_green" "$nd_off" "$*"; }
nd_fail() {
  printf '%sFAIL%s: %s\n' "$nd_red" "$nd_off" "$*" >&2
  exit 1
}

# Quiet mode (ND_QUIET=1, the tests' default is verbose too: a failing test's
# log is the transcript) only hides the command echo.
nd_show_cmd() { [[ ${ND_QUIET:-0} == 1 ]] || printf '$ %s\n' "$*"; }

# -- bookkeeping --------------------------------------------------------------

ND_TAG=''
ND_WORK=''
ND_NETNS=()             # namespaces to delete, in creation order
ND_CONTAINER_PIDS=()    # sleeping "containers"
ND_NODES=()             # node names that have a daemon
declare -A ND_NS=()     # node or container name -> namespace
declare -A ND_DAEMON=() # node -> overlayd pid
declare -A ND_SOCK=()   # node -> IPC socket
declare -A ND_DIR=()    # node -> data dir
declare -A ND_PID=()    # container -> pid
ND_ROOT_LINKS_BEFORE=''
ND_DROPIN=/etc/systemd/network/00-zlayer-unmanaged.network
ND_DROPIN_BEFORE=0

nd_root_links() {
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' \
    | grep -E '^(zl-|veth)' | sort || true
}

# nd_begin TAG: starts a run whose namespaces are all named nd-TAG-*.
nd_begin() {
  ND_TAG=$1
  [[ $(id -u) == 0 ]] || {
    echo "needs root (network namespaces, TUN, iptables)"
    exit 77
  }
  [[ -x ${OVERLAYD:-} && -x ${OVERLAYCTL:-} ]] \
    || nd_fail "OVERLAYD / OVERLAYCTL do not name the built binaries"
  # A namespace of this tag left by a killed earlier run (ours by name):
  # stop what still runs in it, then delete it.
  local stale
  for stale in $(ip netns list | awk '{print $1}' | grep -E "^nd-$ND_TAG-" || true); do
    ip netns pids "$stale" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$stale" 2>/dev/null || true
  done
  ND_ROOT_LINKS_BEFORE=$(nd_root_links)
  [[ -e $ND_DROPIN ]] && ND_DROPIN_BEFORE=1
  ND_WORK=$(mktemp -d "/tmp/nd-$ND_TAG.XXXXXX")
  trap nd_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

nd_netns_add() {
  local ns=$1
  ip netns add "$ns"
  ND_NETNS+=("$ns")
  ip -n "$ns" link set lo up
}

# -- nodes --------------------------------------------------------------------

# nd_node NAME: a namespace nd-TAG-NAME for a node.
nd_node() {
  local name=$1 ns="nd-$ND_TAG-$1"
  nd_netns_add "$ns"
  ND_NS[$name]=$ns
}

# nd_underlay A B NET: a veth between nodes A and B, NET.1/24 on A and
# NET.2/24 on B (both ends are created directly inside the namespaces, so
# nothing ever appears in the root namespace). Waits for carrier.
nd_underlay() {
  local a=$1 b=$2 net=$3
  ip link add ul0 netns "${ND_NS[$a]}" type veth peer name ul0 netns "${ND_NS[$b]}"
  ip -n "${ND_NS[$a]}" addr add "$net.1/24" dev ul0
  ip -n "${ND_NS[$b]}" addr add "$net.2/24" dev ul0
  ip -n "${ND_NS[$a]}" link set ul0 up
  ip -n "${ND_NS[$b]}" link set ul0 up
  local i
  for i in $(seq 50); do
    if ! ip -n "${ND_NS[$a]}" -o link show ul0 | grep -q NO-CARRIER \
      && ! ip -n "${ND_NS[$b]}" -o link show ul0 | grep -q NO-CARRIER; then
      return 0
    fi
    sleep 0.1
  done
  nd_fail "underlay $a-$b has no carrier"
}

# nd_start_daemon NODE: overlayd inside the node's namespace with a private
# data dir, socket and UAPI dir; waits until the socket answers.
nd_start_daemon() {
  local node=$1 dir="$ND_WORK/$1"
  mkdir -p "$dir/wg"
  cat >"$dir/overlayd.toml" <<EOF
[engine]
backend = "real"
driver_workers = 3
uapi_dir = "$dir/wg"

[nat]
# No NAT ticks (none are sent either): the nodes share an underlay, and
# nothing here may reach the public STUN servers of the default config.
self_tick = false
EOF
  ND_DIR[$node]=$dir
  ND_SOCK[$node]=$dir/overlayd.sock
  nd_show_cmd "ip netns exec ${ND_NS[$node]} overlayd --config $dir/overlayd.toml" \
    "--data-dir $dir --socket $dir/overlayd.sock --log-level info &"
  ip netns exec "${ND_NS[$node]}" "$OVERLAYD" --config "$dir/overlayd.toml" \
    --data-dir "$dir" --socket "${ND_SOCK[$node]}" --log-level info \
    >"$dir/overlayd.log" 2>&1 &
  ND_DAEMON[$node]=$!
  ND_NODES+=("$node")
  wait_for_overlayd "${ND_SOCK[$node]}" "${ND_DAEMON[$node]}" && return 0
  cat "$dir/overlayd.log" >&2
  nd_fail "overlayd of node $node did not come up"
}

# -- talking to a daemon ------------------------------------------------------

# nd_ctl NODE 'JSON': one request over the node's socket. Echoes the command
# and the response; the response object is left in ND_OUT. Fails (status 1)
# on an `err` response.
ND_OUT=''
nd_ctl() {
  local node=$1 json=$2 rc=0
  nd_show_cmd "overlayctl --socket \$$node raw '$json'"
  ND_OUT=$("$OVERLAYCTL" --socket "${ND_SOCK[$node]}" raw "$json" 2>&1) || rc=$?
  printf '  %s\n' "$ND_OUT"
  return "$rc"
}

# nd_ctl_status NODE: the human status view.
nd_ctl_status() {
  nd_show_cmd "overlayctl --socket \$$1 status"
  "$OVERLAYCTL" --socket "${ND_SOCK[$1]}" status | sed 's/^/  /'
}

# nd_json KEY [JSON]: a top-level scalar of ND_OUT (or JSON). Plain sed,
# because the responses are flat objects whose only nesting is arrays
# (dropped first, so a peer's `public_key` never shadows the node's).
nd_json() {
  printf '%s\n' "${2:-$ND_OUT}" | sed 's/\[[^]]*\]//g' \
    | sed -n 's/.*"'"$1"'":\("[^"]*"\|[^,}]*\).*/\1/p' | sed 's/^"\(.*\)"$/\1/'
}

# nd_json_any KEY [JSON]: the first KEY anywhere (e.g. inside `peers`).
nd_json_any() {
  printf '%s\n' "${2:-$ND_OUT}" \
    | sed -n 's/"'"$1"'":\("[^"]*"\|[^],}]*\).*/\n\1/p' \
    | tail -n 1 | sed 's/^"\(.*\)"$/\1/'
}

# nd_status NODE: `status` without echoing; the response in ND_OUT.
nd_status() {
  ND_OUT=$("$OVERLAYCTL" --socket "${ND_SOCK[$1]}" raw '{"op":"status"}')
}

# nd_bridge_subnet NODE BRIDGE: the subnet a bridge serves (its connected
# route), as the main daemon knows it from its own subnet registry.
nd_bridge_subnet() {
  ip -n "${ND_NS[$1]}" -4 route show dev "$2" proto kernel scope link \
    | awk '{print $1; exit}'
}

# -- the reference flow, one call per request ---------------------------------

# nd_global NODE NODE_ID SLICE: set_local_node_id + setup_global_overlay.
nd_global() {
  nd_ctl "$1" "{\"op\":\"set_local_node_id\",\"node_id\":$2}"
  nd_ctl "$1" "{\"op\":\"setup_global_overlay\",\"deployment\":\"demo\",\"instance_id\":\"$1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"$3\",\"wg_port\":51820}"
}

# nd_service NODE SERVICE MODE: setup_service_overlay; ND_OUT keeps the reply.
nd_service() {
  nd_ctl "$1" "{\"op\":\"setup_service_overlay\",\"service\":\"$2\",\"mode\":\"$3\"}"
}

# nd_peer NODE KEY ENDPOINT ALLOWED [SCOPE_SERVICE]: add_peer, global scope
# unless a service is named.
nd_peer() {
  local scope='{"scope":"global"}'
  [[ -n ${5:-} ]] && scope="{\"scope\":\"service\",\"service\":\"$5\"}"
  nd_ctl "$1" "{\"op\":\"add_peer\",\"public_key\":\"$2\",\"endpoint\":\"$3\",\"allowed_ips\":\"$4\",\"persistent_keepalive_secs\":25,\"scope\":$scope}"
}

# nd_container NAME: a sleeping process in its own namespace nd-TAG-NAME.
nd_container() {
  local name=$1 ns="nd-$ND_TAG-$1"
  nd_netns_add "$ns"
  ND_NS[$name]=$ns
  ip netns exec "$ns" sleep 1000 &
  ND_PID[$name]=$!
  ND_CONTAINER_PIDS+=("$!")
}

# nd_attach NODE CONTAINER SERVICE [ISOLATION_NETWORK]: attach_container with
# the container's pid; prints nothing extra, ND_OUT holds the reply and
# ND_IP the address.
ND_IP=''
nd_attach() {
  local iso=''
  [[ -n ${4:-} ]] && iso=",\"isolation_network\":\"$4\""
  nd_ctl "$1" "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":${ND_PID[$2]}},\"service\":\"$3\",\"join_global\":false,\"ephemeral\":false$iso}"
  ND_IP=$(nd_json ip)
}

nd_detach() {
  nd_ctl "$1" "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":${ND_PID[$2]}}}"
}

# -- data-plane checks --------------------------------------------------------

# nd_ping_ok CONTAINER IP: the first reply within 10 s (the first packet
# waits for a WireGuard handshake), then three more in a row.
nd_ping_ok() {
  local ns=${ND_NS[$1]} t0 t1
  nd_show_cmd "ip netns exec $ns ping -c 3 $2"
  t0=$(date +%s%N)
  if ! ip netns exec "$ns" ping -n -c 1 -w 10 "$2" >/dev/null; then
    nd_diagnose
    nd_fail "$1 cannot reach $2"
  fi
  t1=$(date +%s%N)
  ip netns exec "$ns" ping -n -c 3 -i 0.2 -w 5 "$2" | sed 's/^/  /' \
    || nd_fail "$1 lost packets to $2"
  nd_note "  (first reply after $(((t1 - t0) / 1000000)) ms)"
}

# nd_ping_blocked CONTAINER IP: no reply to two pings within 2 s.
nd_ping_blocked() {
  nd_show_cmd "ip netns exec ${ND_NS[$1]} ping -c 2 -w 2 $2   # must fail"
  if ip netns exec "${ND_NS[$1]}" ping -n -c 2 -i 0.2 -w 2 "$2" >/dev/null; then
    nd_fail "$1 reached $2 although it must not"
  fi
  nd_ok "$1 cannot reach $2"
}

# What the nodes look like, for a failure's log.
nd_diagnose() {
  local node
  for node in "${ND_NODES[@]}"; do
    echo "--- node $node (${ND_NS[$node]})" >&2
    {
      ip -n "${ND_NS[$node]}" -br addr
      ip -n "${ND_NS[$node]}" route
      ip netns exec "${ND_NS[$node]}" iptables -S 2>/dev/null
      "$OVERLAYCTL" --socket "${ND_SOCK[$node]}" raw '{"op":"status"}'
      tail -n 20 "${ND_DIR[$node]}/overlayd.log"
    } >&2 2>&1 || true
  done
}

# nd_shutdown NODE: the in-band shutdown, then waits for the exit (status
# 0). The node namespace must then hold nothing overlayd made.
nd_shutdown() {
  local node=$1 pid=${ND_DAEMON[$1]} i
  nd_ctl "$node" '{"op":"shutdown"}'
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    nd_fail "overlayd of $node still runs after shutdown"
  fi
  wait "$pid" || nd_fail "overlayd of $node exited with status $?"
  unset "ND_DAEMON[$node]"
  local left
  left=$(ip -n "${ND_NS[$node]}" -o link show | awk -F': ' '{print $2}' \
    | sed 's/@.*//' | grep -vE '^(lo|ul0)$' || true)
  [[ -z $left ]] || nd_fail "node $node keeps links after shutdown: $left"
  if ip netns exec "${ND_NS[$node]}" iptables -S | grep -q ZLAYER; then
    nd_fail "node $node keeps firewall rules after shutdown"
  fi
  nd_ok "overlayd of $node exited 0 and left its namespace as it found it"
}

# nd_check_dropin_gone: after the last daemon's shutdown, the drop-in that
# keeps network managers off overlay links is gone again (unless it was
# there before this run).
nd_check_dropin_gone() {
  if [[ $ND_DROPIN_BEFORE == 0 && -e $ND_DROPIN ]]; then
    nd_fail "$ND_DROPIN is still there after every daemon shut down"
  fi
}

# -- cleanup ------------------------------------------------------------------

nd_cleanup() {
  local rc=$? node pid ns i
  set +e
  trap - EXIT INT TERM
  for node in "${!ND_DAEMON[@]}"; do
    stop_overlayd "${ND_SOCK[$node]}" "${ND_DAEMON[$node]}"
  done
  for pid in "${ND_CONTAINER_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for ((i = ${#ND_NETNS[@]} - 1; i >= 0; i--)); do
    ip netns del "${ND_NETNS[$i]}" 2>/dev/null
  done
  [[ -n $ND_WORK ]] && rm -rf "$ND_WORK"
  [[ ${ND_QUIET:-0} == 1 ]] \
    || printf '\ncleanup: stopped what was still running, deleted %s and %s\n' \
      "${ND_NETNS[*]:-no namespace}" "${ND_WORK:-nothing}"

  # The host must look as it did: no new zl-*/veth* link in the root
  # namespace, no namespace of this run, no drop-in left by the daemons.
  local after new
  after=$(nd_root_links)
  new=$(comm -13 <(echo "$ND_ROOT_LINKS_BEFORE") <(echo "$after") | grep . || true)
  if [[ -n $new ]]; then
    printf 'FAIL: links left in the root namespace: %s\n' "$new" >&2
    rc=1
  fi
  if ip netns list | awk '{print $1}' | grep -qE "^nd-$ND_TAG-"; then
    printf 'FAIL: namespaces left: %s\n' \
      "$(ip netns list | grep -E "^nd-$ND_TAG-" | tr '\n' ' ')" >&2
    rc=1
  fi
  # A daemon that had to be killed cannot remove its network-manager
  # drop-in; it was not there before this run, so it is ours to remove.
  if [[ $ND_DROPIN_BEFORE == 0 && -e $ND_DROPIN ]]; then
    rm -f "$ND_DROPIN"
  fi
  ((rc != 0)) || echo "host check: no new zl-*/veth* link in the root namespace, no nd-$ND_TAG-* namespace left"
  exit "$rc"
}

# -- two nodes in one call (the tests' common start) --------------------------

# nd_two_nodes NET: nodes a and b (node ids 1 and 2) on underlay NET.1 and
# NET.2, each with a daemon and its global overlay (slices 10.200.0.0/28
# and 10.200.0.16/28 of the cluster 10.200.0.0/16, WireGuard port 51820).
# Leaves each node's key, node IP, slice and underlay address in ND_KEY,
# ND_NODE_IP, ND_SLICE, ND_UNDERLAY.
declare -A ND_KEY=() ND_NODE_IP=() ND_SLICE=() ND_UNDERLAY=()
nd_two_nodes() {
  local net=$1 n
  nd_node a
  nd_node b
  nd_underlay a b "$net"
  ND_UNDERLAY=([a]=$net.1 [b]=$net.2)
  nd_start_daemon a
  nd_start_daemon b
  nd_global a 1 10.200.0.0/28
  nd_global b 2 10.200.0.16/28
  for n in a b; do
    nd_status "$n"
    ND_KEY[$n]=$(nd_json public_key)
    ND_NODE_IP[$n]=$(nd_json node_ip)
    ND_SLICE[$n]=$(nd_json slice_cidr)
    [[ -n ${ND_KEY[$n]} ]] || nd_fail "node $n reports no public key"
  done
}

# nd_global_peers EXTRA_A EXTRA_B: each node becomes the other's global
# peer: its node IP, its slice and the extra CIDRs given for it (its
# service subnets), endpoint its underlay address on port 51820.
nd_global_peers() {
  nd_peer a "${ND_KEY[b]}" "${ND_UNDERLAY[b]}:51820" \
    "${ND_NODE_IP[b]}/32,${ND_SLICE[b]}${2:+,$2}"
  nd_peer b "${ND_KEY[a]}" "${ND_UNDERLAY[a]}:51820" \
    "${ND_NODE_IP[a]}/32,${ND_SLICE[a]}${1:+,$1}"
}
