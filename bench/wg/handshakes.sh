#!/usr/bin/env bash
# Handshakes per second per core (responder and full) beside the X25519
# bound, measured in one run by handshake_bench.cpp.
# Usage: bench/wg/handshakes.sh [BUILD-DIR] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
ninja -C "$build" bench/wg/wg_handshake_bench >/dev/null
"$build/bench/wg/wg_handshake_bench" "${2:-10}"
