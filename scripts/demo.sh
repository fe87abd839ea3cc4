#!/usr/bin/env bash
# The main job: install what is missing, build, and run the bundled example
# experiment on this machine (declared GPUs: none are needed) until Ctrl-C.
# A first argument ending in .yaml runs that experiment instead, such as
# examples/launchers.yaml (torchrun, vLLM and SGLang launch presets, with the
# stand-ins of tests/launchers for the tools); the rest goes to berth run.
set -euo pipefail
cd "$(dirname "$0")/.."
experiment=examples/demo.yaml
case "${1:-}" in *.yaml) experiment=$1; shift ;; esac
./scripts/install-deps.sh
echo "== build (Release, into build/)"
./scripts/build.sh
echo "== berth plan $experiment"
./build/berth plan "$experiment"
echo
echo "== berth run $experiment   (Ctrl-C, or berth down RUN_DIR from another terminal, stops it)"
exec ./build/berth run "$experiment" "$@"
