#!/usr/bin/env bash
# A node of a running experiment crashes on a real Slurm
# (scripts/slurm-cluster.sh kill-node: its slurmd, slurmstepds and tasks
# SIGKILLed, the node left for Slurm to notice, which takes it 25-30 s): berth
# notices within 10 s, names the node, the cause and the workers lost (never
# "exited with code 0"), cancels the job and exits non-zero; once the node is
# back nothing is left: no job, no step, no process. Then the same with a
# restart policy: only the units that stood on the node restart (in a further
# job when the first holds no room), or, when Slurm ends the whole job (a
# heterogeneous one), the experiment is placed again on the nodes left. And a
# slurmd killed alone (its steps and workers live on): noticed as well.
# Needs root and Slurm (scripts/install-deps.sh).
#
# Usage: tests/slurm/slurm_node_loss_test.sh BERTH DEMO_WORKER

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

fault_test_begin loss 3

cat > "$T/exp.yaml" <<YAML
name: loss
backend: slurm
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 8, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
node_of() { $PY -c "import json,sys; print([w for w in json.load(open(sys.argv[1]))['workers'] if w['id']==sys.argv[2]][0]['node'])" "$1/state.json" "$2"; }
reported() { ! kill -0 "$berth_pid" 2>/dev/null || grep -q "stopped answering" "$1"; }

# --- 1. No restart policy: reported within 10 s, the run ends.
"$berth" run "$T/exp.yaml" --run-dir "$T/r1" > "$T/r1.out" 2> "$T/r1.err" &
berth_pid=$!
if wait_for 60 phase_is "$T/r1" running; then
  node=$(node_of "$T/r1" w/1)
  t0=$(now)
  "$cluster" kill-node "$dir" "$node" 2>/dev/null
  wait_for 20 reported "$T/r1.err"
  took=$(since "$t0")
  wait_for 60 gone "$berth_pid" || { fail "berth did not exit after the node loss"; kill -9 "$berth_pid"; }
  wait "$berth_pid"; rc=$?; berth_pid=
  msg=$(cat "$T/r1.err")
  if [ $rc -ne 0 ] && awk -v t="$took" 'BEGIN { exit !(t < 10) }' &&
     grep -q "node $node stopped answering" "$T/r1.err" && grep -q "slurmd" "$T/r1.err" &&
     grep -q "workers lost with it: w/1" "$T/r1.err" && ! grep -q "exited with code 0" "$T/r1.err"; then
    ok "node loss reported in $took s (rc=$rc), naming the node, the cause and the worker"
  else
    fail "node loss: rc=$rc after $took s: $msg"
  fi
  $PY - "$T/r1/state.json" <<'PY' && ok "state.json: w/1 failed, lost with its node" || fail "state.json: $(cat "$T/r1/state.json")"
import json, sys
s = json.load(open(sys.argv[1]))
w = {x["id"]: x for x in s["workers"]}
assert s["phase"] == "failed", s["phase"]
assert w["w/1"]["state"] == "failed" and w["w/1"]["exit"].startswith("lost with node"), w["w/1"]
PY
  "$cluster" start-node "$dir" "$node" >/dev/null 2>&1 || fail "start-node $node"
  if nothing_left 20; then ok "node loss: once the node is back, nothing is left"
  else fail "node loss left: $(what_is_left)"; fi
else
  fail "r1 did not come up: $(cat "$T/r1.out" "$T/r1.err")"
fi

# --- 2. Only the node's slurmd killed (its steps and workers run on):
#        reported within 10 s as its slurmd; once it is back, it ends them.
"$berth" run "$T/exp.yaml" --run-dir "$T/r3" > "$T/r3.out" 2> "$T/r3.err" &
berth_pid=$!
if wait_for 60 phase_is "$T/r3" running; then
  node=$(node_of "$T/r3" w/1)
  t0=$(now)
  kill -9 "$(cat "$dir/run/slurmd-$node.pid")"
  wait_for 20 reported "$T/r3.err"
  took=$(since "$t0")
  wait_for 60 gone "$berth_pid" || { fail "berth did not exit after slurmd died"; kill -9 "$berth_pid"; }
  wait "$berth_pid"; rc=$?; berth_pid=
  if [ $rc -ne 0 ] && awk -v t="$took" 'BEGIN { exit !(t < 10) }' &&
     grep -q "node $node stopped answering: its slurmd has not answered" "$T/r3.err" &&
     grep -q "workers lost with it: w/1" "$T/r3.err"; then
    ok "slurmd killed: reported in $took s (rc=$rc), naming the node, its slurmd and the worker"
  else
    fail "slurmd killed: rc=$rc after $took s: $(cat "$T/r3.err")"
  fi
  "$cluster" start-node "$dir" "$node" >/dev/null 2>&1 || fail "start-node $node"
  if nothing_left 20; then ok "slurmd killed: once it is back, nothing is left"
  else fail "slurmd killed, left: $(what_is_left)"; fi
else
  fail "r3 did not come up: $(cat "$T/r3.out" "$T/r3.err")"
fi

# --- 3. A heterogeneous job (its nodes ask for different GPUs) is ended
#        whole by Slurm with one node, --no-kill or not: with every role's
#        on_failure restart, the experiment is placed again on the nodes left.
cat > "$T/exp3.yaml" <<YAML
name: loss
backend: slurm
roles:
  - name: big
    replicas: 1
    placement: separate
    on_failure: restart
    scheduling_spec: {cpu: 1, gpu: 8, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
  - name: small
    replicas: 1
    placement: separate
    on_failure: restart
    scheduling_spec: {cpu: 1, gpu: 4, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
"$berth" run "$T/exp3.yaml" --run-dir "$T/r2" > "$T/r2.out" 2> "$T/r2.err" &
berth_pid=$!
if wait_for 60 phase_is "$T/r2" running; then
  node=$(node_of "$T/r2" small/0)
  t0=$(now)
  "$cluster" kill-node "$dir" "$node" 2>/dev/null
  replaced() { $PY -c "import json,sys; s=json.load(open('$T/r2/state.json')); sys.exit(not (s['phase']=='running' and min(w['restarts'] for w in s['workers'])>=1))" 2>/dev/null; }
  if wait_for 60 replaced && grep -q "heterogeneous job" "$T/r2.err" && grep -q "re-placing the experiment" "$T/r2.out"; then
    now_on=$($PY -c "import json; print(' '.join(w['node'] for w in json.load(open('$T/r2/state.json'))['workers']))")
    case " $now_on " in
      *" $node "*) fail "placed again on the lost node: $now_on" ;;
      *) ok "a heterogeneous job lost with a node: running again in $(since "$t0") s on $now_on" ;;
    esac
  else
    fail "not placed again: $(cat "$T/r2.out" "$T/r2.err")"
  fi
  "$berth" down "$T/r2" >/dev/null 2>&1
  wait_for 60 gone "$berth_pid" || { fail "berth down did not stop berth"; kill -9 "$berth_pid"; }
  wait "$berth_pid"; rc=$?; berth_pid=
  [ $rc -eq 0 ] && ok "the re-placed run stops cleanly" || fail "re-placed run: rc=$rc $(cat "$T/r2.err")"
  "$cluster" start-node "$dir" "$node" >/dev/null 2>&1 || fail "start-node $node"
  if nothing_left 20; then ok "re-placed run: nothing left"
  else fail "re-placed run left: $(what_is_left)"; fi
else
  fail "r2 did not come up: $(cat "$T/r2.out" "$T/r2.err")"
fi

# --- 4. on_failure: restart: only the lost node's instance restarts, in a
#        further job on the node left (the first job runs on: --no-kill);
#        the other instance is not touched.
cat > "$T/exp4.yaml" <<YAML
name: loss
backend: slurm
roles:
  - name: w
    replicas: 2
    placement: separate
    on_failure: restart
    restart: {max_restarts: 2, window_s: 600, backoff_s: [0.1, 1]}
    scheduling_spec: {cpu: 1, gpu: 8, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
pid_of() { $PY -c "import json,sys; print([w for w in json.load(open(sys.argv[1]))['workers'] if w['id']==sys.argv[2]][0]['pid'])" "$1/state.json" "$2"; }
"$berth" run "$T/exp4.yaml" --run-dir "$T/r4" > "$T/r4.out" 2> "$T/r4.err" &
berth_pid=$!
if wait_for 60 phase_is "$T/r4" running; then
  job=$(job_of "$T/r4")
  # The node of the job's batch script holds the job: lose the other one.
  batch=$(timeout 10 squeue -h -s -j "$job" -o '%i %N' | awk '$1 ~ /batch/ { print $2 }')
  lost=w/1; [ "$(node_of "$T/r4" w/1)" = "$batch" ] && lost=w/0
  kept=w/0; [ $lost = w/0 ] && kept=w/1
  node=$(node_of "$T/r4" $lost)
  kept_pid=$(pid_of "$T/r4" $kept)
  t0=$(now)
  "$cluster" kill-node "$dir" "$node" 2>/dev/null
  back() { $PY - "$T/r4/state.json" "$lost" <<'PY' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1]))
w = {x["id"]: x for x in s["workers"]}
sys.exit(not (s["phase"] == "running" and w[sys.argv[2]]["restarts"] == 1 and w[sys.argv[2]]["state"] == "ready"))
PY
  }
  if wait_for 60 back; then
    took=$(since "$t0")
    now_on=$(node_of "$T/r4" $lost)
    further=$($PY -c "import json; print(' '.join(j['id'] for j in json.load(open('$T/r4/state.json')).get('further_slurm_jobs', [])))")
    if [ "$now_on" != "$node" ] && [ "$(pid_of "$T/r4" $kept)" = "$kept_pid" ] && [ -n "$further" ] &&
       ! job_ended "$job" && grep -q "the job runs on without it" "$T/r4.out"; then
      ok "node loss with on_failure restart: $lost ready again on $now_on in $took s (further job $further), $kept untouched, job $job runs on"
    else
      fail "node loss restart: now on $now_on (lost $node), $kept pid $(pid_of "$T/r4" $kept) vs $kept_pid, further '$further': $(cat "$T/r4.out" "$T/r4.err")"
    fi
    if grep -q "\"kind\": *\"failed\".*lost with node $node" "$T/r4/events.jsonl" &&
       grep -q "\"kind\": *\"restarted\"" "$T/r4/events.jsonl"; then
      ok "events.jsonl: the loss and the restart"
    else
      fail "events.jsonl: $(cat "$T/r4/events.jsonl")"
    fi
  else
    fail "$lost not restarted after losing $node: $(cat "$T/r4.out" "$T/r4.err")"
  fi
  "$berth" down "$T/r4" >/dev/null 2>&1
  wait_for 60 gone "$berth_pid" || { fail "berth down did not stop berth"; kill -9 "$berth_pid"; }
  wait "$berth_pid"; rc=$?; berth_pid=
  [ $rc -eq 0 ] && ok "the run that lost a node stops cleanly" || fail "r4: rc=$rc $(cat "$T/r4.err")"
  "$cluster" start-node "$dir" "$node" >/dev/null 2>&1 || fail "start-node $node"
  if nothing_left 20; then ok "node loss with restarts: nothing left, further job included"
  else fail "r4 left: $(what_is_left)"; fi
else
  fail "r4 did not come up: $(cat "$T/r4.out" "$T/r4.err")"
fi

[ $failures -eq 0 ] && echo "all slurm node loss tests passed" || { echo "$failures failure(s)" >&2; exit 1; }
