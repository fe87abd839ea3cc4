#!/usr/bin/env bash
# The main job: install what is missing, build, and run the bundled example
# experiment on this machine (declared GPUs: none are needed) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh >/dev/null
echo "== berth plan examples/demo.yaml"
./build/berth plan examples/demo.yaml
echo
echo "== berth run examples/demo.yaml   (Ctrl-C, or berth down RUN_DIR from another terminal, stops it)"
exec ./build/berth run examples/demo.yaml "$@"
