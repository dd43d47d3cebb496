#!/usr/bin/env bash
# Replays corpus sessions against the real overlayd binary over its socket:
# for every session, one fresh daemon for the exact replay and another for
# a mutated replay (broken frames mixed in; the daemon must stay up and
# answer every well-formed request as recorded).
#
# usage: run_against_daemon.sh [--netns PREFIX] OVERLAYD OVERLAY_REPLAY SESSION...
#
# Without --netns the daemon runs on the in-memory host twin
# (`[engine] backend = "twin"`): nothing on this machine changes. The
# session's container processes (header `processes`) are created on the
# twin under their symbolic pids (`[engine] twin_processes`).
#
# --netns PREFIX runs each daemon on the real backend inside a throw-away
# network namespace PREFIX-<pid>-<n> (needs root), with private, empty
# network-manager drop-in directories (a mount namespace of its own), and
# a UAPI directory of its own. Each symbolic container pid becomes a real
# `sleep` process in a fresh network namespace (`unshare -n`); the
# replayer sends the real pids (`--pid SYM=REAL`). Namespaces, processes
# and files are removed on exit, also on failure.
set -u
netns_prefix=""
if [ "${1:-}" = "--netns" ]; then
  netns_prefix=$2
  shift 2
fi
overlayd=$1
replay=$2
shift 2

work=$(mktemp -d /tmp/rpl-daemon-XXXXXX)
daemon_pid=""
netns=""
containers=()
stop_containers() {
  local pid
  for pid in "${containers[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  containers=()
}
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  stop_containers
  [ -n "$netns" ] && ip netns delete "$netns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The header's symbolic container pids, one per line.
session_processes() {
  python3 -c 'import json,sys
h = json.loads(open(sys.argv[1]).readline())
for p in h.get("processes", []):
    print(p)' "$1"
}

n=0
pid_args=()
# start_daemon SESSION: a fresh daemon (and containers) for one replay.
start_daemon() {
  n=$((n + 1))
  local dir=$work/d$n
  mkdir -p "$dir/uapi"
  socket=$dir/overlayd.sock
  local symbolic
  mapfile -t symbolic < <(session_processes "$1")
  pid_args=()
  local config=$dir/overlayd.toml
  if [ -n "$netns_prefix" ]; then
    printf '[engine]\nbackend = "real"\ndriver_workers = 2\nuapi_dir = "%s"\n' \
      "$dir/uapi" >"$config"
    local sym
    for sym in "${symbolic[@]}"; do
      unshare -n sleep 600 &
      containers+=("$!")
      pid_args+=(--pid "$sym=$!")
    done
  else
    local list
    list=$(IFS=,; echo "${symbolic[*]}")
    printf '[engine]\nbackend = "twin"\ndriver_workers = 2\nuapi_dir = ""\ntwin_processes = [%s]\n' \
      "$list" >"$config"
  fi
  local run=()
  if [ -n "$netns_prefix" ]; then
    netns=$netns_prefix-$$-$n
    ip netns add "$netns" || return 1
    ip -n "$netns" link set lo up
    # `ip netns exec` gives the command a mount namespace of its own
    # (mounts stay inside), so empty tmpfs over the drop-in directories
    # keep the host's network-manager configuration untouched.
    run=(ip netns exec "$netns" sh -c '
      for d in /etc/systemd/network /etc/NetworkManager/conf.d; do
        [ -d "$d" ] && mount -t tmpfs rpl-dropins "$d"
      done
      exec "$0" "$@"')
  fi
  "${run[@]}" "$overlayd" --config "$config" --data-dir "$dir/data" \
    --socket "$socket" --log-level error >"$dir/log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 100); do
    [ -S "$socket" ] && return 0
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "overlayd did not come up; its log:" >&2
  cat "$dir/log" >&2
  return 1
}

stop_daemon() {
  local rc=0
  if [ -n "$daemon_pid" ]; then
    # Still running (nothing sent shutdown)? Then it survived; stop it.
    if kill -0 "$daemon_pid" 2>/dev/null; then
      kill "$daemon_pid"
    fi
    wait "$daemon_pid"
    rc=$?
  fi
  daemon_pid=""
  stop_containers
  if [ -n "$netns" ]; then
    ip netns delete "$netns"
    netns=""
  fi
  return $rc
}

failed=0
for session in "$@"; do
  for mode in exact mutate; do
    start_daemon "$session" || { failed=1; stop_daemon; continue; }
    args=(--socket "$socket" "${pid_args[@]}")
    [ $mode = mutate ] && args+=(--mutate "$((n * 7919))" --mutate-rate 1)
    if ! "$replay" "${args[@]}" "$session"; then
      echo "FAILED: $mode replay of $session against overlayd" >&2
      failed=1
    fi
    if [ $mode = mutate ] && ! kill -0 "$daemon_pid" 2>/dev/null; then
      # Only an in-band shutdown may end it (mutation leaves those alone).
      if ! grep -q '"op\\":\\"shutdown' "$session"; then
        echo "FAILED: overlayd died during the mutated replay of $session" >&2
        failed=1
      fi
    fi
    # A daemon killed by a signal (crash) shows as an exit status > 128.
    stop_daemon
    rc=$?
    if [ $rc -gt 128 ] && [ $rc -ne 143 ]; then
      echo "FAILED: overlayd ended with status $rc after $session" >&2
      failed=1
    fi
  done
done
exit $failed
