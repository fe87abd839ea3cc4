#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. gates: every C++ file follows .clang-format; the layers of src/ point
#      one way (tests/arch); clang-tidy finds nothing (.clang-tidy).
#   2. Release build (g++): unit, property, command-line and Python tests.
#   3. Sanitizer build (clang, ASan + UBSan): the same tests, the Slurm tests
#      (mostly waiting on Slurm: run once, here, where a memory error fails
#      them too), and a bounded libFuzzer run of every parser.
# With --quick (under five minutes on two cores, from nothing): the gates
# (clang-tidy on what changed since the last commit and on what includes a
# changed header) and the unit tests (on fakes and small real processes) in an
# unoptimised build of their own (build-quick), without Python, the
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
  # Its own build, unoptimised: from nothing it compiles in about half the
  # time of the Release build (the full run's), which is what keeps the lane
  # under five minutes on two cores.
  phase "build (build-quick: -O0, the unit tests only)"
  cmake -S . -B build-quick -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    -DBERTH_BENCH=OFF >/dev/null
  cmake --build build-quick -j"$jobs" --target berth_tests
  # clang-tidy on the files changed since the last commit and, for a changed
  # header, on every file that includes it (ninja knows: the compiler's own
  # dependency lists, from the build just done). The full run checks every
  # file. Clean results are cached in build-quick/tidy-cache.
  mapfile -t changed < <({ git diff --name-only HEAD; git ls-files --others --exclude-standard; } |
    grep -E '^(src|tools|python/core|include|testing)/.*\.(cc|h)$' | sort -u)
  headers=()
  sources=()
  for f in "${changed[@]}"; do
    [ -f "$f" ] || continue
    case "$f" in
      *.h) headers+=("$PWD/$f") ;;
      *) sources+=("$f") ;;
    esac
  done
  if [ ${#headers[@]} -gt 0 ]; then
    mapfile -t -O "${#sources[@]}" sources < <(ninja -C build-quick -t deps |
      awk -v root="$PWD/" -v list="$(printf '%s\n' "${headers[@]}")" '
        BEGIN { n = split(list, h, "\n"); for (i = 1; i <= n; i++) if (h[i] != "") want[h[i]] = 1 }
        /^[^ ]/ { src = ""; next }
        /^    / { dep = $1
                  if (src == "") { src = dep; next }
                  if (dep in want && index(src, root) == 1) print substr(src, length(root) + 1) }')
  fi
  tidy_files=()
  mapfile -t sources < <(printf '%s\n' "${sources[@]}" | sort -u)
  for f in "${sources[@]}"; do
    case "$f" in
      "" | *_test.cc | */testdata/* | testing/* | tests/*) ;;
      src/*.cc | tools/*.cc | python/core/*.cc) tidy_files+=("$f") ;;
    esac
  done
  if [ ${#tidy_files[@]} -gt 0 ]; then
    phase "clang-tidy (.clang-tidy) on ${#tidy_files[@]} file(s): changed, or including a changed header"
    BUILD=build-quick ./scripts/tidy.sh "${tidy_files[@]}"
  else
    phase "clang-tidy: no source file changed since the last commit"
  fi
  # The placement property tests at a quarter of their cases: unoptimised,
  # they would take most of the lane. The full run runs them whole.
  phase "unit tests (property tests at BERTH_PROPERTY_SCALE=0.25)"
  BERTH_PROPERTY_SCALE=0.25 ctest --test-dir build-quick --output-on-failure -j"$jobs" -L unit
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
phase "release tests (the Slurm tests run once, in the sanitizer pass)"
ctest --test-dir build --output-on-failure -j"$jobs" -LE slurm

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
