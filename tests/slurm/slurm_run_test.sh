#!/usr/bin/env bash
# berth run with backend: slurm against a real Slurm (scripts/slurm-cluster.sh,
# 4 nodes x 8 GPUs): the plan from sinfo, one heterogeneous job for the whole
# experiment, each worker an srun step on its planned node with its planned
# (granted) GPUs and byte-exact env, a fork on its target's node and GPUs, a
# 2-node deferred instance, then: teardown in order with nothing left on any
# node; a crash; a node failure; an external scancel; a job that cannot start
# within its queue timeout. Needs root and Slurm (scripts/install-deps.sh).
#
# Usage: tests/slurm/slurm_run_test.sh BERTH DEMO_WORKER

set -u
berth=$1
worker=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
cluster=$root/scripts/slurm-cluster.sh
export PATH="$PATH:/usr/sbin:/sbin"
PY=/usr/bin/python3

# shellcheck source=need_slurm.sh
. "$root/tests/slurm/need_slurm.sh"
need_slurm

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok - $*"; }

dir=$(mktemp -d /tmp/berth-slurm-run.XXXXXX) || exit 1
T=$(mktemp -d /tmp/berth-slurm-run-t.XXXXXX) || exit 1
berth_pid=
cleanup() {
  [ -z "$berth_pid" ] || kill -9 "$berth_pid" 2>/dev/null
  "$cluster" down "$dir" >/dev/null 2>&1 || echo "warning: down $dir failed" >&2
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

eval "$(BERTH_SLURM_NODES=4 BERTH_SLURM_GPUS=8 "$cluster" up "$dir")" || { echo "FAIL: cluster up" >&2; exit 1; }

wait_phase() {  # RUN_DIR PHASE TENTHS
  local i=0
  until grep -q "\"phase\": \"$2\"" "$1/state.json" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt "$3" ] || return 1; sleep 0.1
  done
}
port_of() {  # RUN_DIR ID
  $PY -c "import json,sys; w=[w for w in json.load(open('$1/state.json'))['workers'] if w['id']=='$2'][0]; print(w['ports'][0]['port'])"
}
nothing_left() {  # seconds
  local i=0
  while [ -n "$("$cluster" nodes-procs "$dir" | grep -v 'sleep 2147483647\|\[.*\.batch\]')" ]; do
    i=$((i + 1)); [ $i -lt $(($1 * 10)) ] || return 1; sleep 0.1
  done
  # And no step or job of ours still runs.
  ! squeue -h -t running,completing | grep -q berth
}

cat > "$T/exp.yaml" <<YAML
name: slurmdemo
backend: slurm
slurm: {queue_timeout: 30}
roles:
  - name: actor
    replicas: 2
    placement: shared
    scheduling_spec:
      cpu: 1
      gpu: 2
      mem: 1
      ports: [http]
      cmd: [$worker]
      env_vars: {TRICKY: "a,b=c \"q\" 'x'  y", MULTI: "line1\nline2"}
    readiness: {http: {port: http, path: /health}}
  - name: rollout
    replicas: 1
    instance: {tp: 6, pp: 2}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    scheduling_spec: {cpu: 1, mem: 1, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML

# 1. The plan comes from Slurm's nodes.
if "$berth" plan "$T/exp.yaml" --json > "$T/plan.json" 2> "$T/plan.err" &&
   $PY - "$T/plan.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
w = {x["id"]: x for x in p["workers"]}
assert w["actor/0"]["node"] == w["ref/0"]["node"] and w["actor/0"]["gpus"] == w["ref/0"]["gpus"], w
assert w["rollout/0"]["node"] != w["rollout/0.1"]["node"], w
assert all(x["node"].startswith("node") for x in w.values()), w
PY
then ok "plan --backend slurm: nodes from sinfo, fork with target, deferred on 2 nodes"
else fail "plan: $(cat "$T/plan.err")"; fi

# 2. The run: one job, steps as planned.
"$berth" run "$T/exp.yaml" --run-dir "$T/run" > "$T/run.out" 2> "$T/run.err" &
berth_pid=$!
if wait_phase "$T/run" running 300; then ok "run: all workers ready"; else fail "run did not come up: $(cat "$T/run.out" "$T/run.err")"; fi
jobs=$(squeue -h -o %i -n berth-slurmdemo | sort -u | wc -l)
[ "$jobs" -ge 1 ] && [ "$(squeue -h -o %A -n berth-slurmdemo | sort -u | wc -l)" -le 2 ] \
  && ok "one heterogeneous job holds the experiment" || fail "jobs: $(squeue)"
for id in actor/1 ref/1 rollout/0 rollout/0.1; do
  curl -s "http://127.0.0.1:$(port_of "$T/run" $id)/env" > "$T/env.$(echo $id | tr / .)" || fail "no /env from $id"
done
if $PY - "$T" <<'PY'
import json, sys
T = sys.argv[1]
st = {w["id"]: w for w in json.load(open(T + "/run/state.json"))["workers"]}
def env(i):
    e = json.load(open(T + "/env." + i.replace("/", ".")))
    return e.get("env", e)
a1, r1, h, f = env("actor/1"), env("ref/1"), env("rollout/0"), env("rollout/0.1")
assert a1["SLURMD_NODENAME"] == st["actor/1"]["node"], (a1["SLURMD_NODENAME"], st["actor/1"])
assert a1["CUDA_VISIBLE_DEVICES"] == st["actor/1"]["gpus"], (a1["CUDA_VISIBLE_DEVICES"], st["actor/1"])
assert len(a1["CUDA_VISIBLE_DEVICES"].split(",")) == 2
assert a1["TRICKY"] == "a,b=c \"q\" 'x'  y", repr(a1["TRICKY"])
assert a1["MULTI"] == "line1\nline2", repr(a1["MULTI"])
assert a1["RANK"] == "1" and a1["WORLD_SIZE"] == "2"
assert r1["SLURMD_NODENAME"] == a1["SLURMD_NODENAME"] and r1["CUDA_VISIBLE_DEVICES"] == a1["CUDA_VISIBLE_DEVICES"]
assert h["NNODES"] == "2" and h["NODE_RANK"] == "0" and f["NODE_RANK"] == "1"
assert h["SLURMD_NODENAME"] != f["SLURMD_NODENAME"]
assert len(h["CUDA_VISIBLE_DEVICES"].split(",")) == 8 and len(f["CUDA_VISIBLE_DEVICES"].split(",")) == 4
assert h["SLURM_JOB_ID"] and "BERTH_SUPERVISOR_TOKEN" not in a1
PY
then ok "steps: planned nodes, granted GPUs, byte-exact env, fork, deferred NNODES/NODE_RANK"
else fail "env check (see above)"; fi

# 3. Teardown: in order, gracefully, nothing left on any node.
"$berth" down "$T/run" > /dev/null 2>&1
wait "$berth_pid"; rc=$?; berth_pid=
[ $rc -eq 0 ] && ok "down: berth exits 0" || fail "down: rc=$rc"
order=$(grep "stopped" "$T/run/merged.log" | sed 's/^\[\([^]]*\)\].*/\1/' | tr '\n' ' ')
case "$order" in
  "ref/1 ref/0 "*"actor/1 actor/0 ") ok "teardown order: $order";;
  *) fail "teardown order: $order";;
esac
if nothing_left 10; then ok "teardown: no process of the experiment on any node, job ended"
else fail "left: $("$cluster" nodes-procs "$dir")"; fi

# 4. A worker that crashes later: its exit code, the Slurm state, the log.
cat > "$T/crash.yaml" <<YAML
name: crash
backend: slurm
roles:
  - name: w
    replicas: 2
    scheduling_spec: {cpu: 1, gpu: 1, ports: [http], cmd: [$worker, --exit-after, "1", --exit-code, "6"]}
    readiness: {http: {port: http, path: /health}}
YAML
"$berth" run "$T/crash.yaml" --run-dir "$T/crash" > "$T/crash.out" 2> "$T/crash.err"
rc=$?
[ $rc -eq 6 ] && grep -q "exited with code 6" "$T/crash.err" && grep -q "Slurm job" "$T/crash.err" \
  && ok "crash: exit code 6 with the Slurm job's state" || fail "crash: rc=$rc $(cat "$T/crash.err")"
nothing_left 10 && ok "crash: nothing left" || fail "crash left: $("$cluster" nodes-procs "$dir")"

# 5. A node fails under a running worker.
cat > "$T/nf.yaml" <<YAML
name: nodefail
backend: slurm
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 8, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
"$berth" run "$T/nf.yaml" --run-dir "$T/nf" > "$T/nf.out" 2> "$T/nf.err" &
berth_pid=$!
if wait_phase "$T/nf" running 300; then
  node=$($PY -c "import json; print([w for w in json.load(open('$T/nf/state.json'))['workers'] if w['id']=='w/1'][0]['node'])")
  start=$(date +%s.%N)
  "$cluster" fail-node "$dir" "$node" >/dev/null 2>&1
  wait "$berth_pid"; rc=$?; berth_pid=
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  [ $rc -ne 0 ] && grep -q "node $node is lost: Slurm calls it down" "$T/nf.err" && grep -q "workers lost with it: w/1" "$T/nf.err" \
    && ok "node failure: reported in ${took} s with the node, Slurm's word and the worker" \
    || fail "node failure: rc=$rc $(cat "$T/nf.err")"
  "$cluster" start-node "$dir" "$node" >/dev/null 2>&1
  nothing_left 15 && ok "node failure: nothing left" || fail "node failure left: $("$cluster" nodes-procs "$dir")"
else fail "nodefail did not come up: $(cat "$T/nf.err")"; fi

# 5b. The same with on_failure: restart: only w/1 restarts, in a further job
#     on the node left; the first job runs on with w/0.
sed 's/^    placement: separate$/    placement: separate\n    on_failure: restart/' "$T/nf.yaml" > "$T/nf2.yaml"
"$berth" run "$T/nf2.yaml" --run-dir "$T/nf2" > "$T/nf2.out" 2> "$T/nf2.err" &
berth_pid=$!
if wait_phase "$T/nf2" running 300; then
  node=$($PY -c "import json; print([w for w in json.load(open('$T/nf2/state.json'))['workers'] if w['id']=='w/1'][0]['node'])")
  "$cluster" fail-node "$dir" "$node" >/dev/null 2>&1
  replaced() { $PY -c "import json,sys; s=json.load(open('$T/nf2/state.json')); w={x['id']: x for x in s['workers']}; sys.exit(not (s['phase']=='running' and w['w/1']['restarts']==1 and w['w/1']['state']=='ready' and w['w/0']['restarts']==0))" 2>/dev/null; }
  i=0; until replaced || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
  if replaced && grep -q "further Slurm job" "$T/nf2.out"; then
    now_on=$($PY -c "import json; s=json.load(open('$T/nf2/state.json')); print([w for w in s['workers'] if w['id']=='w/1'][0]['node'])")
    [ "$now_on" != "$node" ] && ok "node failure with on_failure restart: w/1 again on $now_on, w/0 untouched" \
      || fail "w/1 restarted on the failed node $node"
  else fail "w/1 not restarted: $(cat "$T/nf2.out" "$T/nf2.err")"; fi
  "$berth" down "$T/nf2" >/dev/null 2>&1
  wait "$berth_pid"; rc=$?; berth_pid=
  [ $rc -eq 0 ] && ok "restarted run stops cleanly" || fail "restarted run: rc=$rc $(cat "$T/nf2.err")"
  "$cluster" start-node "$dir" "$node" >/dev/null 2>&1
  nothing_left 15 && ok "restarted run: nothing left" || fail "restarted run left: $("$cluster" nodes-procs "$dir")"
else fail "nf2 did not come up: $(cat "$T/nf2.err")"; fi

# 6. Someone cancels the job.
"$berth" run "$T/crash.yaml" --run-dir "$T/cx" > /dev/null 2> "$T/cx.err" &
berth_pid=$!
sed -i 's/--exit-after, "1", --exit-code, "6"/--startup-delay, "0"/' "$T/crash.yaml"
if wait_phase "$T/cx" running 300 || true; then
  scancel -n berth-crash
  wait "$berth_pid"; rc=$?; berth_pid=
  [ $rc -ne 0 ] && grep -q "CANCELLED\|Killed\|exited" "$T/cx.err" && ok "scancel: reported (rc=$rc)" \
    || fail "scancel: rc=$rc $(cat "$T/cx.err")"
fi
nothing_left 10 && ok "scancel: nothing left" || fail "scancel left: $("$cluster" nodes-procs "$dir")"

# 7. Too big to start now: pending with Slurm's reason, then the queue timeout.
holder=$(sbatch --parsable --output=/dev/null -N4 --gres=gpu:8 --wrap "sleep 600")
cat > "$T/pend.yaml" <<YAML
name: pend
backend: slurm
slurm: {queue_timeout: 3}
roles:
  - name: w
    replicas: 1
    scheduling_spec: {cpu: 1, gpu: 1, cmd: [$worker]}
YAML
sleep 1
"$berth" run "$T/pend.yaml" --run-dir "$T/pend" > "$T/pend.out" 2> "$T/pend.err"
rc=$?
scancel "$holder"
# Nothing is free now, but it fits the empty nodes: submitted, pending with
# Slurm's reason, cancelled at the queue timeout (exit 3), nothing left.
[ $rc -eq 3 ] && grep -q "is PENDING: Resources" "$T/pend.out" && grep -q "queue_timeout" "$T/pend.err" \
  && ok "pending: Slurm's reason shown, exit 3 at the queue timeout" \
  || fail "pending: rc=$rc $(cat "$T/pend.out" "$T/pend.err")"
[ -z "$(squeue -h -n berth-pend -t pending,running)" ] && ok "pending: job cancelled" || fail "pending job left: $(squeue)"

[ $failures -eq 0 ] && echo "all slurm run tests passed" || { echo "$failures failure(s)" >&2; exit 1; }
