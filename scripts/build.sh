#!/usr/bin/env bash
# Configures (once) and builds overlayd into ${BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
if [[ ! -f "$build_dir/build.ninja" ]]; then
  meson setup "$build_dir" --buildtype=debugoptimized
fi
ninja -C "$build_dir"
