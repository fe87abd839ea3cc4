#!/usr/bin/env bash
# Configures and builds berth (Release) into build/. BERTH_BUILD_TARGETS
# (space-separated) builds only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
# shellcheck disable=SC2086
cmake --build build -j"$(nproc)" ${BERTH_BUILD_TARGETS:+--target $BERTH_BUILD_TARGETS}
