#!/usr/bin/env bash
# The main job: install what is missing, build, and run the placement demo
# on the example cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh >/dev/null
echo "berth place --cluster examples/cluster.json --ops examples/ops.json --format text"
echo "(the same as JSON: drop --format text)"
echo
./build/berth place --cluster examples/cluster.json --ops examples/ops.json --format text "$@"
