#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite: unit, replay
# and host (the host suite needs root: it creates its own namespaces).
# Prints a closing "N passed, N failed" line from meson's test log.
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

bash scripts/install-deps.sh || exit 1
bash scripts/build.sh || exit 1

suites=(--suite unit --suite replay)
if [[ $(id -u) -eq 0 ]]; then
  suites+=(--suite host)
else
  echo "not root: skipping the host suite"
fi
meson test -C "$build_dir" --print-errorlogs --num-processes 2 "${suites[@]}" "$@"
rc=$?

python3 - "$build_dir/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
except FileNotFoundError:
    pass
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
