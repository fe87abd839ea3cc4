#!/bin/sh
# Start-up and teardown of N demo workers, against the floor of spawning the
# same N processes and polling them directly, in the same run:
#   berth       `berth run` of a one-role experiment, then `berth down`
#   supervisor  the process supervisor alone (build/spawn_floor --supervisor:
#               one SpawnMany, the same /health polling, TerminateAll)
#   floor       build/spawn_floor: fork/exec, /health polling, SIGTERM, waitpid
# Usage: bench/run_bench.sh [N] [REPEATS] [all|berth|supervisor]
#   (after ./scripts/build.sh; BUILD=DIR to use another build directory)
# Prints one line per run, then the median of each column and of the
# per-run ratios to the floor (each ratio taken within one run).
set -eu
N=${1:-256}
R=${2:-3}
WHAT=${3:-all}
cd "$(dirname "$0")/.."
B=${BUILD:-build}
T=$(mktemp -d /tmp/berth-run-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
WORKER=$(readlink -f "$B/berth-demo-worker")
cat > "$T/exp.yaml" <<YAML
name: bench
cluster: {gpus: 0, cpu: $N, mem: 1}
roles:
  - name: w
    replicas: $N
    placement: separate
    scheduling_spec: {cpu: 0.5, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
    startup_timeout: 120
YAML
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
field() { echo "$2" | sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
: > "$T/results"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
for r in $(seq 1 "$R"); do
  line="run $r:"
  b_ready=""
  s_ready=""
  if [ "$WHAT" = all ] || [ "$WHAT" = berth ]; then
    rm -rf "$T/run" "$T/sync"
    mkfifo "$T/sync"
    # Ready = berth prints "running;" (after every worker passed its check).
    # Read from its output as it comes: polling state.json from here would
    # start hundreds of processes (grep, sleep) on the cores the workers need.
    t0=$(now_ms)
    ( "$B/berth" run "$T/exp.yaml" --run-dir "$T/run" 2>&1 | tee "$T/out" |
      { if grep -q '^running;'; then echo up; else echo failed; fi > "$T/sync"; cat > /dev/null; } ) &
    read -r up < "$T/sync"
    if [ "$up" != up ]; then wait; echo "berth run failed:" >&2; cat "$T/out" >&2; exit 1; fi
    t1=$(now_ms)
    "$B/berth" down "$T/run" > /dev/null
    wait
    t2=$(now_ms)
    line="$line berth ready_ms=$((t1 - t0)) teardown_ms=$((t2 - t1)) |"
    b_ready=$((t1 - t0))
    echo "berth_ready $b_ready" >> "$T/results"
    echo "berth_teardown $((t2 - t1))" >> "$T/results"
  fi
  if [ "$WHAT" = all ] || [ "$WHAT" = supervisor ]; then
    sup=$("$B/spawn_floor" --supervisor "$WORKER" "$N")
    line="$line supervisor $sup |"
    s_ready=$(field ready_ms "$sup")
    echo "supervisor_ready $s_ready" >> "$T/results"
    echo "supervisor_teardown $(field teardown_ms "$sup")" >> "$T/results"
    echo "supervisor_spawn $(field spawn_ms "$sup")" >> "$T/results"
  fi
  floor=$("$B/spawn_floor" "$WORKER" "$N")
  echo "floor_ready $(field ready_ms "$floor")" >> "$T/results"
  echo "floor_teardown $(field teardown_ms "$floor")" >> "$T/results"
  f_ready=$(field ready_ms "$floor")
  [ -n "$b_ready" ] && echo "berth_ready/floor $(ratio "$b_ready" "$f_ready")" >> "$T/results"
  [ -n "$s_ready" ] && echo "supervisor_ready/floor $(ratio "$s_ready" "$f_ready")" >> "$T/results"
  echo "$line floor $floor"
done
echo "medians over $R runs of $N workers:"
for k in berth_ready berth_teardown supervisor_ready supervisor_teardown supervisor_spawn \
         floor_ready floor_teardown berth_ready/floor supervisor_ready/floor; do
  case $k in */floor) unit="x" ;; *) unit=" ms" ;; esac
  grep "^$k " "$T/results" | awk '{print $2}' | sort -n |
    awk -v k="$k" -v u="$unit" '{v[NR]=$1} END {if (NR) printf "  %-23s %s%s\n", k, (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), u}'
done
