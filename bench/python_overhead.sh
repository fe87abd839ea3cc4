#!/bin/sh
# What the Python module costs per Scheduler operation: the same cycle
# (create N workers, get, fork, delete every role) through the C++ API
# (build/scheduler_ops_bench) and through the Python module
# (bench/python_overhead.py), in one go, side by side.
# Usage: bench/python_overhead.sh [WORKERS] [RUNS] [tcp|none]
#   (after building scheduler_ops_bench, berth_python and berth-demo-worker;
#    BUILD=DIR for another build directory)
set -eu
N=${1:-16}
R=${2:-10}
READY=${3:-tcp}
cd "$(dirname "$0")/.."
B=$(readlink -f "${BUILD:-build}")
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WORKER="$B/berth-demo-worker"
for f in "$B/scheduler_ops_bench" "$WORKER" "$B/python/berth/__init__.py"; do
  [ -e "$f" ] || { echo "missing $f: build scheduler_ops_bench berth_python berth-demo-worker" >&2; exit 2; }
done
T=$(mktemp -d /tmp/berth-py-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$B/scheduler_ops_bench" --workers "$N" --runs "$R" --demo-worker "$WORKER" --readiness "$READY" > "$T/cc"
PYTHONPATH="$B/python" "$PY" bench/python_overhead.py --workers "$N" --runs "$R" \
  --demo-worker "$WORKER" --readiness "$READY" > "$T/py"
us() { sed -n "s/^op=$1 median_us=\([0-9]*\).*/\1/p" "$2"; }
echo "workers=$N runs=$R readiness=$READY (medians, microseconds)"
printf '%-8s %12s %12s %12s %8s\n' op cxx_us python_us diff_us ratio
for op in create get fork delete; do
  c=$(us "$op" "$T/cc")
  p=$(us "$op" "$T/py")
  awk -v op="$op" -v c="$c" -v p="$p" 'BEGIN {
    printf "%-8s %12d %12d %12d %8s\n", op, c, p, p - c, (c > 0 ? sprintf("%.2f", p / c) : "-") }'
done
