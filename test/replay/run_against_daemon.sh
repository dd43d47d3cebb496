#!/usr/bin/env bash
# Replays corpus sessions against the real overlayd binary over its socket:
# for every session, one fresh daemon for the exact replay and another for
# a mutated replay (broken frames mixed in; the daemon must stay up and
# answer every well-formed request as recorded).
#
# usage: run_against_daemon.sh [--netns PREFIX] OVERLAYD OVERLAY_REPLAY SESSION...
#   --netns PREFIX  run each daemon inside a throw-away network namespace
#                   named PREFIX-<pid>-<n> (needs root; removed on exit)
set -u
netns_prefix=""
if [ "${1:-}" = "--netns" ]; then
  netns_prefix=$2
  shift 2
fi
overlayd=$1
replay=$2
shift 2

work=$(mktemp -d /tmp/orp-daemon-XXXXXX)
daemon_pid=""
netns=""
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  [ -n "$netns" ] && ip netns delete "$netns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

n=0
start_daemon() {
  n=$((n + 1))
  local dir=$work/d$n
  mkdir -p "$dir"
  socket=$dir/overlayd.sock
  local run=()
  if [ -n "$netns_prefix" ]; then
    netns=$netns_prefix-$$-$n
    ip netns add "$netns" || return 1
    run=(ip netns exec "$netns")
  fi
  "${run[@]}" "$overlayd" --data-dir "$dir/data" --socket "$socket" \
    --log-level error >"$dir/log" 2>&1 &
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
  # Still running (nothing sent shutdown)? Then it survived; stop it.
  if kill -0 "$daemon_pid" 2>/dev/null; then
    kill "$daemon_pid"
  fi
  wait "$daemon_pid"
  local rc=$?
  daemon_pid=""
  if [ -n "$netns" ]; then
    ip netns delete "$netns"
    netns=""
  fi
  return $rc
}

failed=0
for session in "$@"; do
  for mode in exact mutate; do
    start_daemon || { failed=1; continue; }
    args=(--socket "$socket" --pending-ok)
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
