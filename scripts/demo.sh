#!/usr/bin/env bash
# The main job: installs what is missing, builds, then runs a live overlayd
# on a throwaway data dir and drives it through overlayctl over the IPC
# socket, exactly as ZLayer's main daemon would. Everything it starts or
# creates is removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null

overlayd=$build_dir/src/app/overlayd
overlayctl=$build_dir/src/app/overlayctl
work=$(mktemp -d /tmp/overlayd-demo.XXXXXX)
sock=$work/overlayd.sock
daemon_pid=

cleanup() {
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() {
  printf '$ overlayctl %s\n' "$*"
  "$overlayctl" --socket "$sock" "$@"
}

step "starting overlayd (data dir $work)"
"$overlayd" --config conf/overlayd.toml --data-dir "$work" --socket "$sock" \
  >"$work/overlayd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || { cat "$work/overlayd.log"; exit 1; }
head -n 3 "$work/overlayd.log"

step "identity, as the main daemon sends it at start-up"
ctl raw '{"op":"set_local_node_id","node_id":7}'
ctl raw '{"op":"set_local_wg_pubkey","pubkey":"uBYF0UKfvl2Zp2zZbqDzqb1DlbS4G3wrz5nGdWnVJ1Q="}'

step "addresses from the node slice"
ctl allocate-ip web
ctl allocate-ip web
ctl release-ip 10.200.0.2

step "a peer added before the global overlay exists (mirrored; the device-backed peer list in status stays empty until then, as in the reference)"
ctl add-peer --pubkey 'Xk1+b2nN1nY8pYQyWz7cTgR0wA2Lh9r5h3M8Ff0cBmE=' \
  --endpoint 192.0.2.10:51820 --allowed-ip 10.200.1.0/24 --keepalive 25
ctl status
ctl nat-status

step "a request the engine refuses, with its reason"
ctl raw '{"op":"add_peer","public_key":"Xk1+b2nN1nY8pYQyWz7cTgR0wA2Lh9r5h3M8Ff0cBmE=","endpoint":"192.0.2.10:51820","allowed_ips":[],"scope":{"scope":"service","service":"db"}}' || true

step "shutdown over the IPC"
ctl raw '{"op":"shutdown"}'
wait "$daemon_pid" && echo "overlayd exited with status 0"
daemon_pid=
