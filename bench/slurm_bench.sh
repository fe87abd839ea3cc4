#!/usr/bin/env bash
# berth on Slurm against plain srun, on the same test cluster, in one run:
# N trivial workers (/bin/true) started through `berth run --backend slurm`
# (sinfo, plan, one heterogeneous job, one srun step per worker, scancel),
# against the same N tasks started by plain Slurm commands:
#   srun-1step  one `srun -N4 --ntasks=N true` (one job, one step of N tasks)
#   srun-each   N concurrent `srun -n1 true` inside one allocation (one step
#               per task, as berth does)
# Usage: bench/slurm_bench.sh [N] [ROUNDS]   (needs build/berth, root, Slurm)
set -euo pipefail
cd "$(dirname "$0")/.."
berth=${BERTH:-build/berth}
n=${1:-64}
rounds=${2:-3}
nodes=4
dir=$(mktemp -d /tmp/berth-slurm-bench.XXXXXX)
trap 'scripts/slurm-cluster.sh down "$dir" >/dev/null 2>&1 || true' EXIT
eval "$(BERTH_SLURM_NODES=$nodes BERTH_SLURM_CPUS=$(( (n + nodes - 1) / nodes )) scripts/slurm-cluster.sh up "$dir" 2>/dev/null)"

cat > "$dir/bench.yaml" <<YAML
name: bench
backend: slurm
roles:
  - name: t
    replicas: $n
    placement: separate
    scheduling_spec: {cpu: 1, mem: 0.1, cmd: [/bin/true]}
YAML

secs() { local t0; t0=$(date +%s.%N); "$@" >"$dir/last.out" 2>&1 || { echo "failed: $*: $(tail -3 "$dir/last.out")" >&2; }; awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
each() {
  local job; job=$(sbatch --parsable --output=/dev/null -N$nodes --ntasks=$n --wrap "sleep 600")
  for _ in $(seq 400); do [ "$(squeue -h -j "$job" -o %T)" = RUNNING ] && break; sleep 0.05; done
  for _ in $(seq "$n"); do srun --jobid="$job" -N1 -n1 --overlap true & done
  wait
  scancel "$job"
}
one() { srun -N$nodes --ntasks=$n true; }
berth_run() { "$berth" run "$dir/bench.yaml" --run-dir "$dir/berth-run" --grace 1; rm -rf "$dir/berth-run"; }

printf "%-10s" "round"; printf " %10s" berth srun-1step srun-each; echo
for r in $(seq "$rounds"); do
  printf "%-10s %10s %10s %10s\n" "$r" "$(secs berth_run)" "$(secs one)" "$(secs each)"
done
echo "(seconds; N=$n workers on $nodes nodes; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg))"
