#!/usr/bin/env bash
# Soak of the Slurm side of issue 12, TRIALS times per kind, on a real Slurm
# (scripts/slurm-cluster.sh, 2 nodes): `berth run` of 2 workers on 2 nodes,
# then `kill -9` of berth, nothing else, and the job must end by itself
# (docs/slurm.md: the holder job watches berth's heartbeat).
#   running  killed once the workers run
#   pending  killed while its job waits behind a job that holds both nodes;
#            then those nodes are freed: at once in odd trials (the job starts
#            with a fresh beat and ends at the heartbeat limit), after the
#            beat was made a minute old in even ones (as if berth had died
#            long ago: the job must end as soon as it starts)
# An orphan is anything still there 30 s after the kill: a job or step of
# the cluster, a node not idle, a process of a Slurm client (srun, berth, its
# supervisor, a worker), a task under a slurmstepd. Target: 0. Leftovers are
# cleaned up after they are counted, so that trials do not pile up.
#
# Usage: bench/soak_sigkill_slurm.sh [TRIALS] [running|pending|both]
#   (after ./scripts/build.sh; BUILD=DIR to use another build directory;
#   needs root and Slurm, scripts/install-deps.sh)
# Prints one line per trial, then per kind: trials, orphans, and the time
# from the kill to the job's end (min / median / max).
set -u
N=${1:-100}
KINDS=${2:-both}
case "$KINDS" in running|pending) ;; both) KINDS="running pending" ;;
  *) echo "usage: $0 [TRIALS] [running|pending|both]" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$root/build}
berth=$(readlink -f "$B/berth")
worker=$(readlink -f "$B/berth-demo-worker")
cluster=$root/scripts/slurm-cluster.sh
export PATH="$PATH:/usr/sbin:/sbin"
[ -x "$berth" ] && [ -x "$worker" ] || { echo "no $B/berth or $B/berth-demo-worker: build first" >&2; exit 2; }

dir=$(mktemp -d /tmp/berth-soak-slurm.XXXXXX) || exit 1
T=$(mktemp -d /tmp/berth-soak-slurm-t.XXXXXX) || exit 1
trap '"$cluster" down "$dir" >/dev/null 2>&1; rm -rf "$T"' EXIT
eval "$(BERTH_SLURM_NODES=2 "$cluster" up "$dir")" || { echo "cluster up failed" >&2; exit 1; }
# shellcheck source=../tests/slurm/slurm_faults_lib.sh
. "$root/tests/slurm/slurm_faults_lib.sh"

cat > "$T/exp.yaml" <<YAML
name: soak
backend: slurm
slurm: {queue_timeout: 120}
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 4, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
all_alloc() { [ -z "$(sinfo -h -N -o '%t' | grep -v alloc)" ]; }
orphans() {  # one count for everything left
  local n=0
  n=$((n + $(live_jobs | grep -c .) + $(live_steps | grep -c .)))
  n=$((n + $(timeout 10 sinfo -h -N -o '%t' | grep -vc '^idle$\|^plnd$')))
  n=$((n + $(leftover_procs | grep -c .) + $("$cluster" nodes-procs "$dir" | grep -c .)))
  echo "$n"
}
clean() {
  scancel --user=root 2>/dev/null
  local p
  for p in $(leftover_procs | cut -d' ' -f1); do kill -9 "$p" 2>/dev/null; done
  wait_for 30 all_clear || echo "  could not clean up: $(what_is_left)" >&2
}

for kind in $KINDS; do
  : > "$T/times.$kind"
  : > "$T/times.$kind-old"
  orph=0
  for t in $(seq 1 "$N"); do
    run=$T/run-$kind-$t
    blocker=
    if [ "$kind" = pending ]; then
      blocker=$(sbatch --parsable --output=/dev/null -N2 --exclusive --wrap "sleep 600")
      wait_for 20 all_alloc || { echo "trial $t: the blocker does not hold the nodes" >&2; exit 1; }
    fi
    "$berth" run "$T/exp.yaml" --run-dir "$run" > "$run.out" 2> "$run.err" &
    bp=$!
    if [ "$kind" = running ]; then
      wait_for 60 phase_is "$run" running || { echo "trial $t: no run: $(cat "$run.out" "$run.err")" >&2; exit 1; }
    else
      wait_for 30 grep -q "is PENDING" "$run.out" || { echo "trial $t: not pending: $(cat "$run.out" "$run.err")" >&2; exit 1; }
    fi
    job=$(job_of "$run")
    kill -9 "$bp"
    t0=$(now)
    wait "$bp" 2>/dev/null
    if [ -n "$blocker" ]; then
      [ $((t % 2)) -eq 0 ] && touch -d '-60 seconds' "$run/slurm.heartbeat"
      scancel "$blocker"
    fi
    if wait_for 30 job_ended "$job"; then ended=$(since "$t0"); else ended=never; fi
    # Whatever is left 30 s after the kill is an orphan.
    left_by=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { d = 30 - (b - a); print (d > 0 ? d : 0) }')
    wait_for "${left_by%.*}" all_clear
    n=$(orphans)
    [ "$n" -eq 0 ] || { echo "  left: $(what_is_left)"; clean; }
    orph=$((orph + n))
    sub=$kind
    [ "$kind" = pending ] && [ $((t % 2)) -eq 0 ] && sub=$kind-old
    echo "$sub trial $t: job $job ended after $ended s; orphans $n"
    [ "$ended" = never ] || echo "$ended" >> "$T/times.$sub"
    rm -rf "$run" "$run.out" "$run.err"
  done
  stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR) printf "%d ended, min / median / max %.1f / %.1f / %.1f s", NR, v[1], v[int((NR + 1) / 2)], v[NR]; else print "none ended" }'; }
  echo "== $kind: $N trials, $orph orphans; from the kill to the job's end: $(stats "$T/times.$kind")"
  if [ "$kind" = pending ]; then
    echo "   (those, nodes freed at once; with the beat a minute old when the nodes were freed: $(stats "$T/times.$kind-old"))"
  fi
done
