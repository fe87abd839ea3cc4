#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. gates: every C++ file follows .clang-format; the layers of src/ point
#      one way (tests/arch); clang-tidy finds nothing (.clang-tidy).
#   2. Release build (g++): unit, property, command-line, Python and Slurm
#      tests.
#   3. Sanitizer build (clang, ASan + UBSan): the same tests, plus a bounded
#      libFuzzer run of every parser.
# With --quick: the gates (clang-tidy on what changed since the last commit)
# and the unit tests (on fakes and small real processes), without Python, the
# end-to-end scripts, Slurm and sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac
jobs=$(nproc)
start=$(date +%s)
phase() { echo "== [$(($(date +%s) - start)) s] $*"; }

phase "packages"
./scripts/install-deps.sh

phase "format (.clang-format)"
./scripts/check-format.sh
phase "layers (docs/architecture.md)"
/usr/bin/python3 tests/arch/check_layers.py .

if [ $quick = 1 ]; then
  phase "build (Release, tests only)"
  BERTH_BUILD_TARGETS="berth_tests" ./scripts/build.sh
  # The files changed since the last commit (all of them when a header
  # changed: it reaches every file that includes it); the full run checks
  # every file. Clean results are cached in build/tidy-cache.
  mapfile -t changed < <({ git diff --name-only HEAD; git ls-files --others --exclude-standard; } |
    grep -E '^(src|tools|python/core|include)/.*\.(cc|h)$' | sort -u)
  tidy_files=()
  header_changed=0
  for f in "${changed[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in
      *.h) header_changed=1 ;;
      *_test.cc | */testdata/*) ;;
      *) tidy_files+=("$f") ;;
    esac
  done
  if [ $header_changed = 1 ]; then
    phase "clang-tidy (.clang-tidy): a header changed, every file"
    BUILD=build ./scripts/tidy.sh
  elif [ ${#tidy_files[@]} -gt 0 ]; then
    phase "clang-tidy (.clang-tidy) on the ${#tidy_files[@]} changed file(s)"
    BUILD=build ./scripts/tidy.sh "${tidy_files[@]}"
  else
    phase "clang-tidy: no source file changed since the last commit"
  fi
  phase "unit tests"
  ctest --test-dir build --output-on-failure -j"$jobs" -L unit
  phase "quick lane passed"
  exit 0
fi

# The Slurm tests skip, saying why, without root or Slurm; here, as root with
# the packages just installed, they must run.
if [ "$(id -u)" = 0 ]; then export BERTH_REQUIRE_SLURM=1; fi

phase "release build"
./scripts/build.sh
phase "clang-tidy (.clang-tidy)"
BUILD=build ./scripts/tidy.sh
phase "release tests"
ctest --test-dir build --output-on-failure -j"$jobs"

phase "sanitizer build (ASan + UBSan, libFuzzer)"
# -O1: quick to compile, and the sanitizers stay precise.
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DBERTH_SANITIZE=ON -DBERTH_FUZZ=ON -DBERTH_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
phase "sanitizer tests and fuzzing"
# Property tests run at full scale in the release pass; under the sanitizers
# (about 10x slower) a smaller sample keeps CI within its time.
BERTH_PROPERTY_SCALE=${BERTH_PROPERTY_SCALE:-0.15} \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
phase "all tests passed"
