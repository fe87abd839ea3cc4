#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. Release build (g++): unit, property and command-line tests.
#   2. Sanitizer build (clang, ASan + UBSan): the same tests, plus a bounded
#      libFuzzer run of every parser.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)

echo "== release build and tests"
./scripts/build.sh
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan) and fuzzing"
# -O1: quick to compile, and the sanitizers stay precise.
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DBERTH_SANITIZE=ON -DBERTH_FUZZ=ON -DBERTH_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
# Property tests run at full scale in the release pass; under the sanitizers
# (about 10x slower) a smaller sample keeps CI within its time.
BERTH_PROPERTY_SCALE=${BERTH_PROPERTY_SCALE:-0.15} \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
echo "== all tests passed"
