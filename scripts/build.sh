#!/usr/bin/env bash
# Configures and builds berth (Release) into build/, showing how far it has
# got ([n/N]); the compiler's output goes to build/logs/. BERTH_BUILD_TARGETS
# (space-separated) builds only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/progress.sh
progress_run "configure (cmake)" build/logs/configure.log \
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
# shellcheck disable=SC2086
progress_run "build (ninja, $(nproc) jobs)" build/logs/build.log \
  cmake --build build -j"$(nproc)" ${BERTH_BUILD_TARGETS:+--target $BERTH_BUILD_TARGETS}
