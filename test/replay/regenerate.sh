#!/usr/bin/env bash
# Rebuilds the corpus from the request scripts, against the engine of the
# given build (the expected answers are whatever that engine says; review
# the diff before committing). usage: regenerate.sh BUILD_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
replay=$1/src/replay/overlay-replay
python3 "$here/scripts/generate.py" "$here/scripts"
cd "$here"
for script in scripts/*.jsonl; do
  "$replay" --to-corpus "$script" "$(basename "$script")"
done
