#!/usr/bin/env bash
# berth scale and communication groups on a real Slurm
# (scripts/slurm-cluster.sh, 3 nodes x 8 GPUs): a rollout role of 4-GPU
# instances scaled 2 -> 4 -> 1 -> 3 beside a 1-GPU trainer, with a group
# "weights" of the trainer's rank 0 and every rollout worker. After each
# change: every worker ready, no GPU of a node given twice, the group's
# version bumped, and every member started at that version agreeing with
# GET /v1/groups/weights on rank, world size and rendezvous (the demo
# worker's GET /env); instances that need it run in a further job, cancelled
# when they are gone. Beyond the cluster: explained (exit 3), nothing
# started. After berth down nothing is left (no job, step or process).
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
groups:
  - name: weights
    members:
      - {role: actor, ranks: [0]}
      - {role: rollout}
roles:
  - name: actor
    replicas: 1
    scheduling_spec: {cpu: 1, gpu: 1, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 4, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
further() { $PY -c "import json,sys; print(' '.join(j['id'] for j in json.load(open(sys.argv[1])).get('further_slurm_jobs', [])))" "$T/r/state.json"; }

# check N VERSION NEW: N rollout instances, all ready, no GPU given twice;
# the group at VERSION with the trainer and every rollout worker in order,
# the NEW members started at VERSION told what the API says. Prints the
# group.
check() {
  $PY - "$T/r" "$1" "$2" "$3" "$root/tests/lib" <<'PY'
import sys
sys.path.insert(0, sys.argv[5])
import berth_api
api = berth_api.RunApi(sys.argv[1])
n, want, new = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
workers = api.workers()
ids = ["actor/0"] + [f"rollout/{i}" for i in range(n)]
assert sorted(workers) == sorted(ids), sorted(workers)
assert all(w["state"] == "ready" for w in workers.values()), workers
held = {}
for w in workers.values():
    for gpu in w["gpus"].split(","):
        key = (w["node"], gpu)
        assert key not in held, f"{key} given to {held.get(key)} and {w['id']}"
        held[key] = w["id"]
g, checked = berth_api.check_group_env(api, "weights", want)
assert g["members"] == ids and g["world_size"] == len(ids), g
assert checked == new, (checked, new)
print(f"v{g['version']} {g['world_size']} members, {checked} started at it, rendezvous "
      f"{g['master_addr']}:{g['master_port']}; " +
      " ".join(f"{w['id']}@{w['node']}:{w['gpus']}" for w in sorted(workers.values(), key=lambda w: w["id"])))
PY
}

"$berth" run "$T/exp.yaml" --run-dir "$T/r" > "$T/r.out" 2> "$T/r.err" &
berth_pid=$!
if wait_for 60 phase_is "$T/r" running; then
  job=$(job_of "$T/r")
  out=$(check 2 1 3 2>&1) && ok "2 instances: $out" || fail "start: $out"

  t0=$(now)
  "$berth" scale "$T/r" rollout 4 > "$T/s4.out" 2>&1; code=$?
  took=$(since "$t0")
  jobs=$(further)
  out=$(check 4 2 2 2>&1); checked=$?
  [ $code = 0 ] && [ $checked = 0 ] && ok "2 -> 4 in $took s (further job(s): '$jobs'): $out" || fail "2 -> 4: rc=$code $(cat "$T/s4.out") $out"

  "$berth" scale "$T/r" rollout 9 > "$T/s9.out" 2>&1; code=$?
  out=$(check 4 2 2 2>&1); checked=$?
  [ $code = 3 ] && grep -q "is not placed" "$T/s9.out" && [ $checked = 0 ] && ok "4 -> 9 does not fit: exit 3, explained, nothing started" \
    || fail "4 -> 9: rc=$code $(cat "$T/s9.out") $out"

  "$berth" scale "$T/r" rollout 1 > "$T/s1.out" 2>&1; code=$?
  out=$(check 1 3 0 2>&1); checked=$?
  ended_all=1
  for j in $jobs; do job_ended "$j" || ended_all=0; done
  if [ $code = 0 ] && [ $checked = 0 ] && [ $ended_all = 1 ] && [ -z "$(further)" ] && ! job_ended "$job"; then
    ok "4 -> 1: further jobs ended, the first runs on: $out"
  else
    fail "4 -> 1: rc=$code $(cat "$T/s1.out") $out further ended: $ended_all now: '$(further)'"
  fi

  "$berth" scale "$T/r" rollout 3 > "$T/s3.out" 2>&1; code=$?
  out=$(check 3 4 2 2>&1); checked=$?
  [ $code = 0 ] && [ $checked = 0 ] && ok "1 -> 3: $out" || fail "1 -> 3: rc=$code $(cat "$T/s3.out") $out"
  steps=$(timeout 10 squeue -h -s -o '%i %j' | awk '$2 ~ /^(actor|rollout)\// { print $1 " " $2 }' | sort -k2 | tr '\n' ' ')
  case "$steps" in
    *"$job."*" actor/0 "*"rollout/0 "*"rollout/1 "*"rollout/2 "*) ok "the steps: $steps" ;;
    *) fail "steps: $steps (job $job)" ;;
  esac
  versions=$($PY -c '
import json, sys
print(" ".join(str(e["version"]) for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "group"))' "$T/r/events.jsonl")
  [ "$versions" = "1 2 3 4" ] && ok "events.jsonl: versions $versions" || fail "events: versions '$versions'"

  stop_run "$T/r" "the end"
else
  fail "did not come up: $(cat "$T/r.out" "$T/r.err")"
fi

[ $failures -eq 0 ] && echo "all slurm scale tests passed" || { echo "$failures failure(s)" >&2; exit 1; }
