# Shared by the lifecycle host tests (sourced, not run). Each test drives
# one or two overlayd processes in throw-away network namespaces named
# lc-<test>-<role>, only through the IPC socket (overlayctl raw), and leaves
# nothing behind: every namespace, process and file it made is removed on
# exit, also on failure.
#
# Binaries come from meson (OVERLAYD, OVERLAYCTL, OVERLAY_WG); run by hand,
# they default to BUILD_DIR (default: build) of this tree.

set -uo pipefail

lc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
: "${BUILD_DIR:=$lc_root/build}"
: "${OVERLAYD:=$BUILD_DIR/src/app/overlayd}"
: "${OVERLAYCTL:=$BUILD_DIR/src/app/overlayctl}"
: "${OVERLAY_WG:=$BUILD_DIR/src/wg/io/overlay-wg}"

lc_test=""      # short name of the running test, part of every netns name
lc_work=""      # scratch directory: data dirs, sockets, configs, logs
lc_failures=0
lc_checks=0
lc_netns=()     # namespaces to delete
lc_pids=()      # processes to kill (daemons, containers, guest devices)

# -- outcome -------------------------------------------------------------------

lc_log() { printf '# %s\n' "$*" >&2; }

# lc_check DESCRIPTION COMMAND...: runs the command; a non-zero exit is a
# failed check (the test goes on, and fails at lc_finish).
lc_check() {
  local what=$1
  shift
  lc_checks=$((lc_checks + 1))
  if "$@"; then
    printf 'ok - %s\n' "$what"
  else
    printf 'FAIL - %s\n' "$what"
    lc_failures=$((lc_failures + 1))
  fi
}

# lc_fatal MESSAGE: a step the rest of the test depends on went wrong.
lc_fatal() {
  printf 'FAIL - %s (stopping)\n' "$*"
  lc_failures=$((lc_failures + 1))
  lc_dump_logs
  exit 1
}

lc_finish() {
  local passed=$((lc_checks - lc_failures))
  ((passed < 0)) && passed=0
  printf '%d passed, %d failed\n' "$passed" "$lc_failures"
  ((lc_failures == 0)) || lc_dump_logs
  ((lc_failures == 0))
}

lc_dump_logs() {
  local f
  for f in "$lc_work"/*.log "$lc_work"/*.ipc; do
    [[ -f $f ]] || continue
    printf '# ---- %s (last 40 lines)\n' "${f##*/}" >&2
    tail -n 40 "$f" | sed 's/^/#   /' >&2
  done
}

# -- setup and cleanup ---------------------------------------------------------

lc_cleanup() {
  local pid ns live
  # Only processes this shell started and has not reaped yet: a pid that
  # was already waited for may belong to someone else by now.
  live=" $(jobs -p | tr '\n' ' ') "
  for pid in "${lc_pids[@]}"; do
    [[ $live == *" $pid "* ]] && kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${lc_pids[@]}"; do
    [[ $live == *" $pid "* ]] && wait "$pid" 2>/dev/null
  done
  for ns in "${lc_netns[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  [[ -n $lc_work && -d $lc_work ]] && rm -rf "$lc_work"
}

# lc_begin NAME: root check, scratch dir, cleanup trap.
lc_begin() {
  lc_test=$1
  if ((EUID != 0)); then
    echo "needs root (network namespaces, TUN, iptables)" >&2
    exit 77
  fi
  local bin
  for bin in "$OVERLAYD" "$OVERLAYCTL"; do
    [[ -x $bin ]] || { echo "missing binary $bin (set BUILD_DIR)" >&2; exit 1; }
  done
  lc_work=$(mktemp -d "/tmp/lc-$lc_test.XXXXXX")
  trap lc_cleanup EXIT
  trap 'exit 130' INT TERM
}

# lc_ns VAR ROLE: creates lc-<test>-<role> with lo up; its name goes to VAR.
lc_ns() {
  local _ns="lc-$lc_test-$2"
  ip netns del "$_ns" 2>/dev/null
  ip netns add "$_ns" || lc_fatal "ip netns add $_ns"
  lc_netns+=("$_ns")
  ip -n "$_ns" link set lo up
  # A real host has the standard tables; a fresh namespace gets them only
  # when something first touches them. Touch them now, so that a snapshot
  # taken before the daemon and one after compare the daemon's work only.
  local _t _cmd
  for _cmd in iptables ip6tables; do
    for _t in filter nat; do
      ip netns exec "$_ns" "$_cmd" -w -t "$_t" -N LC-PRIME 2>/dev/null \
        && ip netns exec "$_ns" "$_cmd" -w -t "$_t" -X LC-PRIME
    done
  done
  printf -v "$1" '%s' "$_ns"
}

# lc_link NS_A ADDR_A NS_B ADDR_B: a veth between two namespaces (the
# underlay), addresses given as a.b.c.d/len.
lc_link() {
  local a=$1 addr_a=$2 b=$3 addr_b=$4
  local ia="lcu-${b##*-}" ib="lcu-${a##*-}"
  ip link add "$ia" netns "$a" type veth peer name "$ib" netns "$b" \
    || lc_fatal "veth $a<->$b"
  # No IPv6 link-local addresses: their duplicate detection would still be
  # running when the "before" snapshot is taken.
  ip -n "$a" link set "$ia" addrgenmode none
  ip -n "$b" link set "$ib" addrgenmode none
  ip -n "$a" addr add "$addr_a" dev "$ia"
  ip -n "$b" addr add "$addr_b" dev "$ib"
  ip -n "$a" link set "$ia" up
  ip -n "$b" link set "$ib" up
  local i
  for ((i = 0; i < 250; i++)); do
    ip -n "$a" link show "$ia" | grep "state UP" >/dev/null \
      && ip -n "$b" link show "$ib" | grep "state UP" >/dev/null && return 0
    sleep 0.02
  done
  lc_fatal "underlay $a<->$b did not come up"
}

# lc_container VAR: a sleeping process in a network namespace of its own,
# the stand-in for a container; its pid goes to VAR. Waits until it has
# unshared.
lc_container() {
  unshare -n sleep 600 &
  local _pid=$! _i _ns _own
  lc_pids+=("$_pid")
  _own=$(readlink /proc/self/ns/net)
  for ((_i = 0; _i < 200; _i++)); do
    _ns=$(readlink "/proc/$_pid/ns/net" 2>/dev/null) || break
    if [[ $_ns != "$_own" && $(cat "/proc/$_pid/comm" 2>/dev/null) == sleep ]]; then
      printf -v "$1" '%s' "$_pid"
      return 0
    fi
    sleep 0.02
  done
  lc_fatal "container $_pid did not start"
}

# lc_in_container PID COMMAND...
lc_in_container() {
  local pid=$1
  shift
  nsenter -t "$pid" -n "$@"
}

# -- daemons -------------------------------------------------------------------

# lc_daemon_start ROLE NS: starts overlayd in NS with data dir
# $lc_work/<role>/data (kept across restarts), its own UAPI directory, and
# private network-manager directories, so a drop-in it writes lands in
# $lc_work/<role>/dropins instead of the host's /etc. Sets
# LC_PID_<role> and waits for the socket $lc_work/<role>.sock.
lc_daemon_start() {
  local role=$1 ns=$2
  local dir="$lc_work/$role"
  mkdir -p "$dir/data" "$dir/uapi" "$dir/dropins/networkd" "$dir/dropins/nm"
  cat >"$dir/overlayd.toml" <<EOF
[engine]
backend = "real"
driver_workers = 2
uapi_dir = "$dir/uapi"

[log]
level = "debug"
EOF
  local sock="$lc_work/$role.sock"
  rm -f "$sock"
  # ip netns exec gives the command a mount namespace of its own: the bind
  # mounts stay private to this daemon.
  local binds=""
  [[ -d /etc/systemd/network ]] \
    && binds+="mount --bind '$dir/dropins/networkd' /etc/systemd/network && "
  [[ -d /etc/NetworkManager/conf.d ]] \
    && binds+="mount --bind '$dir/dropins/nm' /etc/NetworkManager/conf.d && "
  ip netns exec "$ns" sh -c "${binds}exec '$OVERLAYD' --config '$dir/overlayd.toml' \
    --data-dir '$dir/data' --socket '$sock'" >>"$lc_work/$role.log" 2>&1 &
  local pid=$! i
  lc_pids+=("$pid")
  printf -v "LC_PID_$role" '%s' "$pid"
  for ((i = 0; i < 400; i++)); do
    [[ -S $sock ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.025
  done
  lc_fatal "overlayd $role did not come up"
}

# lc_daemon_wait ROLE: waits (bounded) for the daemon to exit by itself,
# e.g. after an in-band shutdown; fails the test if it does not.
lc_daemon_wait() {
  local role=$1 pidvar="LC_PID_$1" i
  local pid=${!pidvar}
  for ((i = 0; i < 400; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      return 0
    fi
    sleep 0.025
  done
  lc_fatal "overlayd $role did not exit after shutdown"
}

# lc_daemon_kill9 ROLE
lc_daemon_kill9() {
  local pidvar="LC_PID_$1"
  kill -KILL "${!pidvar}" 2>/dev/null
  wait "${!pidvar}" 2>/dev/null
  return 0
}

# lc_req ROLE JSON: sends one request; the response object goes to LC_R.
# A response of kind err (or no answer) logs the reason and returns 1.
LC_R=""
lc_req() {
  local role=$1 json=$2 rc
  LC_R=$("$OVERLAYCTL" --socket "$lc_work/$role.sock" raw "$json" 2>&1)
  rc=$?
  printf '> %s\n< %s\n' "$json" "$LC_R" >>"$lc_work/$role.ipc"
  if ((rc != 0)); then
    printf '# request to %s failed: %s\n#   -> %s\n' "$role" "$json" "$LC_R" >&2
    return 1
  fi
}

# lc_must ROLE JSON: lc_req, and a failure stops the test.
lc_must() {
  lc_req "$@" || lc_fatal "request $2"
}

# lc_json JSON EXPR: evaluates a Python expression over the parsed object
# `r` and prints the result (strings bare, everything else as JSON).
lc_json() {
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))
' "$1" "$2"
}

# -- what a node looks like ------------------------------------------------------

# lc_snapshot NS: links, addresses, routes, rules, iptables (without
# counters) and every forwarding sysctl of the namespace, one sorted text.
# Interface indexes and link-netns ids are stable as long as nothing is
# re-created, so they stay in: a link deleted and re-made shows as a diff.
lc_snapshot() {
  local ns=$1
  ip netns exec "$ns" sh -c '
    echo "== links"; ip -o link show | sed "s/ link-netnsid [0-9]*//"
    echo "== addresses"; ip -o addr show
    echo "== routes"; ip route show table all; ip -6 route show table all
    echo "== rules"; ip rule show; ip -6 rule show
    echo "== iptables"; iptables-save | grep -v "^#" | sed "s/\[[0-9]*:[0-9]*\]//"
    echo "== ip6tables"; ip6tables-save | grep -v "^#" | sed "s/\[[0-9]*:[0-9]*\]//"
    echo "== sysctls"
    sysctl net.ipv4.ip_forward
    for f in /proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv6/conf/*/forwarding; do
      echo "$f $(cat "$f")"
    done
  ' 2>&1
}

# lc_same_snapshot WHAT BEFORE AFTER: equal, or the diff is printed.
lc_same_snapshot() {
  local what=$1 before=$2 after=$3
  if [[ $before == "$after" ]]; then
    return 0
  fi
  printf '# %s differs (- before, + after):\n' "$what"
  diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed 's/^/#   /'
  return 1
}

# lc_has_link NS NAME / lc_no_link NS NAME
lc_has_link() { ip -n "$1" link show "$2" >/dev/null 2>&1; }
lc_no_link() { ! lc_has_link "$@"; }

# lc_links_matching NS REGEX: names of the links whose name matches.
lc_links_matching() {
  ip -n "$1" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' \
    | grep -E "$2" || true
}

# lc_ping NS ADDRESS [COUNT]: one bounded ping from a namespace.
lc_ping() {
  ip netns exec "$1" ping -n -q -i 0.2 -c "${3:-1}" -W 2 -w 5 "$2" >/dev/null 2>&1
}
