#!/bin/sh
# Builds and runs the relay forwarding benchmark against the stun library of
# a meson build directory (default build). Root gives a private
# network namespace and the coturn comparison.
set -eu
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../src" && pwd)
ninja -C "$build" src/stun/liboverlayd_stun.a >/dev/null
out="$build/stun_relay_bench"
g++ -std=c++20 -O2 -Wall -Wextra -I"$src" "$here/relay_bench.cpp" \
  "$build/src/stun/liboverlayd_stun.a" -lsodium -pthread -o "$out"
exec "$out" "$@"
