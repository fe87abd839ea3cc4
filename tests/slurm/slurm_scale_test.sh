#!/usr/bin/env bash
# berth scale on a real Slurm (scripts/slurm-cluster.sh, 3 nodes x 8 GPUs):
# a rollout role of 1 instance (8 GPUs) grown to 3 gets a further job for
# the two new instances' nodes, which run as its steps; shrunk to 1, that job
# is cancelled; beyond the cluster it is explained (exit 3) and nothing
# starts; after berth down nothing is left (no job, step or process).
# Needs root and Slurm (scripts/install-deps.sh).
#
# Usage: tests/slurm/slurm_scale_test.sh BERTH DEMO_WORKER

set -u
berth=$1
worker=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
cluster=$root/scripts/slurm-cluster.sh
export PATH="$PATH:/usr/sbin:/sbin"

# shellcheck source=need_slurm.sh
. "$root/tests/slurm/need_slurm.sh"
need_slurm
# shellcheck source=slurm_faults_lib.sh
. "$root/tests/slurm/slurm_faults_lib.sh"

fault_test_begin scale 3

cat > "$T/exp.yaml" <<YAML
name: scale
backend: slurm
roles:
  - name: rollout
    replicas: 1
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 8, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
gone() { ! kill -0 "$1" 2>/dev/null; }
nodes() { $PY -c "import json,sys; print(' '.join(sorted(w['node'] + ':' + w['state'] for w in json.load(open(sys.argv[1]))['workers'])))" "$T/r/state.json"; }
further() { $PY -c "import json,sys; print(' '.join(j['id'] for j in json.load(open(sys.argv[1])).get('further_slurm_jobs', [])))" "$T/r/state.json"; }

"$berth" run "$T/exp.yaml" --run-dir "$T/r" > "$T/r.out" 2> "$T/r.err" &
berth_pid=$!
if wait_for 60 phase_is "$T/r" running; then
  job=$(job_of "$T/r")
  t0=$(now)
  "$berth" scale "$T/r" rollout 3 > "$T/s3.out" 2>&1; code=$?
  took=$(since "$t0")
  jobs=$(further)
  if [ $code = 0 ] && [ "$(nodes)" = "node1:ready node2:ready node3:ready" ] && [ -n "$jobs" ]; then
    ok "1 -> 3 in $took s: the new instances in further job $jobs on node2 and node3"
  else
    fail "1 -> 3: rc=$code $(cat "$T/s3.out") nodes: $(nodes) further: '$jobs' $(tail -5 "$T/r.out")"
  fi
  steps=$(timeout 10 squeue -h -s -o '%i %j' | awk '$2 ~ /^rollout\// { print $1 " " $2 }' | sort -k2 | tr '\n' ' ')
  case "$steps" in
    *"$job."*" rollout/0 "*) ok "the steps: $steps" ;;
    *) fail "steps: $steps (job $job)" ;;
  esac
  "$berth" scale "$T/r" rollout 9 > "$T/s9.out" 2>&1; code=$?
  [ $code = 3 ] && grep -q "is not placed" "$T/s9.out" && [ "$(nodes)" = "node1:ready node2:ready node3:ready" ] \
    && ok "3 -> 9 does not fit: exit 3, explained, nothing started" || fail "3 -> 9: rc=$code $(cat "$T/s9.out")"
  "$berth" scale "$T/r" rollout 1 > "$T/s1.out" 2>&1; code=$?
  ended_all=1
  for j in $jobs; do job_ended "$j" || ended_all=0; done
  if [ $code = 0 ] && [ "$(nodes)" = "node1:ready" ] && [ $ended_all = 1 ] && ! job_ended "$job"; then
    ok "3 -> 1: the further job ended, the first runs on"
  else
    fail "3 -> 1: rc=$code $(cat "$T/s1.out") nodes: $(nodes) further ended: $ended_all"
  fi
  "$berth" down "$T/r" > /dev/null 2>&1
  wait_for 60 gone "$berth_pid" || { fail "berth down did not stop berth"; kill -9 "$berth_pid"; }
  wait "$berth_pid"; rc=$?; berth_pid=
  [ $rc -eq 0 ] && ok "berth down: exit 0" || fail "rc=$rc $(cat "$T/r.err")"
  if nothing_left 20; then ok "nothing left"; else fail "left: $(what_is_left)"; fi
else
  fail "did not come up: $(cat "$T/r.out" "$T/r.err")"
fi

[ $failures -eq 0 ] && echo "all slurm scale tests passed" || { echo "$failures failure(s)" >&2; exit 1; }
