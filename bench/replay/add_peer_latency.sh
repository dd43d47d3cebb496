#!/bin/sh
# Builds and runs the add_peer latency benchmark (issue 5): p50/p99 of a
# global add_peer over the IPC socket alone and while setup_service_overlay
# calls, each held 500 ms in the twin's create_bridge, run on another
# connection.
#
# usage: bench/replay/add_peer_latency.sh BUILD_DIR [--samples N]
#        [--bridge-delay-ms D] [--gap-us G]
set -eu
build=$1
shift
ninja -C "$build" bench/replay/add_peer_latency >/dev/null
exec "$build/bench/replay/add_peer_latency" "$@"
