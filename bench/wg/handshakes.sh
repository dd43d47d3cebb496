#!/usr/bin/env bash
# Builds and runs handshake_bench.cpp against the engine library of a meson
# build directory (bench/ is not part of the meson build graph).
# Usage: bench/wg/handshakes.sh [BUILD-DIR] [INITIATORS] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
build=${1:-$root/build}
out=$(mktemp -d /tmp/owd-hsbench-XXXXXX)
trap 'rm -rf "$out"' EXIT
g++ -std=c++20 -O2 -I"$root/src" "$here/handshake_bench.cpp" \
  "$build/src/wg/libwg_core.a" -lsodium -pthread -o "$out/handshake_bench"
"$out/handshake_bench" "${2:-200}" "${3:-10}"
