#!/usr/bin/env bash
# The main job: installs what is missing, builds, then runs the two-node
# demo (test/host/nodes/demo_flow.sh, also a host test): two overlayd nodes
# in network namespaces, keys exchanged over the IPC, a service and a
# container on each, a ping from container to container across the
# WireGuard overlay, `overlayctl status` on both, then full cleanup (also
# on failure). Needs root; BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
[[ $build_dir == /* ]] || build_dir=$PWD/$build_dir
ms() { echo $(($(date +%s%N) / 1000000)); }

t0=$(ms)
bash scripts/install-deps.sh
echo "building into $build_dir ..."
log=$(mktemp /tmp/overlayd-demo-build.XXXXXX)
if ! BUILD_DIR=$build_dir bash scripts/build.sh >"$log" 2>&1; then
  tail -n 40 "$log"
  rm -f "$log"
  exit 1
fi
rm -f "$log"
t1=$(ms)

bash test/host/nodes/demo_flow.sh "$build_dir/src/app/overlayd" \
  "$build_dir/src/app/overlayctl"
t2=$(ms)
printf '\ninstall + build: %d ms; live demo incl. cleanup: %d ms\n' \
  $((t1 - t0)) $((t2 - t1))
