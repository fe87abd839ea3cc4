#!/bin/sh
# `berth run` start-up and teardown of N demo workers, against the floor of
# spawning the same N processes and polling them directly, in the same run.
# Usage: bench/run_bench.sh [N] [REPEATS]   (after ./scripts/build.sh)
set -eu
N=${1:-256}
R=${2:-3}
cd "$(dirname "$0")/.."
T=$(mktemp -d /tmp/berth-run-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
WORKER=$(readlink -f build/berth-demo-worker)
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
for r in $(seq 1 "$R"); do
  rm -rf "$T/run"
  t0=$(now_ms)
  build/berth run "$T/exp.yaml" --run-dir "$T/run" > "$T/out" 2>&1 &
  while ! grep -q '"phase": "running"' "$T/run/state.json" 2>/dev/null; do sleep 0.005; done
  t1=$(now_ms)
  build/berth down "$T/run" > /dev/null
  wait
  t2=$(now_ms)
  floor=$(build/spawn_floor "$WORKER" "$N")
  echo "run $r: berth ready_ms=$((t1 - t0)) teardown_ms=$((t2 - t1)) | floor $floor"
done
