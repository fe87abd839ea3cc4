#!/usr/bin/env bash
# Per-role on_failure (docs/experiment.md "When a worker fails") on a real
# Slurm (scripts/slurm-cluster.sh, 3 nodes x 8 GPUs), with demo workers told
# to crash (--exit-after):
#   1. a separate (rollout) instance crashes once, on_failure: restart: it
#      alone restarts as a new step of the same job, the other instance keeps
#      its pid and step; the run stays running; events.jsonl says so;
#   2. a shared (training) rank crashes once: the whole gang and the forks
#      on it restart, each on the node and devices it had (sticky), as new
#      steps of the same job, with a new rendezvous port;
#   3. a node rank of a 2-node (deferred) instance crashes once: the head
#      and the node rank restart, each on its node;
#   4. a worker that always crashes uses up max_restarts: berth exits with
#      its code, naming the worker, the cause and the budget; nothing left;
#   5. on_failure: drop with min_replicas: the instance is dropped (its step
#      ends), the run goes on degraded; berth down exits 0; nothing left.
#   6. an instance ready, then crashed while its sibling still starts: its
#      unit restarts as in 1 (not a failed start, not a port conflict).
# After each run: no job, no step, no process left.
# Needs root and Slurm (scripts/install-deps.sh).
#
# Usage: tests/slurm/slurm_restart_test.sh BERTH DEMO_WORKER

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

fault_test_begin restart 3

# crash_once MARKER SECONDS CODE [WORKER]: a cmd (YAML flow list) that runs
# the demo worker told to exit with CODE after SECONDS the first time (it
# creates the folder MARKER, atomically), and a well-behaved one on every
# later start; with WORKER, only for the worker of that id (the processes of
# a deferred instance share one spec). SECONDS leaves the run time to be
# running before the crash (it is in well under a second here).
crash_once() {
  local only=${4:-\$BERTH_WORKER_ID}
  echo "[/bin/sh, -c, 'if [ \"\$BERTH_WORKER_ID\" = \"$only\" ] && mkdir \"\$0\" 2>/dev/null; then exec \"\$1\" --exit-after $2 --exit-code $3; else exec \"\$1\"; fi', $1, $worker]"
}

start_berth() {  # YAML RUN_DIR
  "$berth" run "$1" --run-dir "$2" > "$2.out" 2> "$2.err" &
  berth_pid=$!
}
# came_up RUN_DIR: within 60 s the run is running, its berth alive (one that
# exits at start-up is not waited out).
running_or_gone() { phase_is "$1" running || gone "$berth_pid"; }
came_up() { wait_for 60 running_or_gone "$1" && phase_is "$1" running && ! gone "$berth_pid"; }
# wait_up SECONDS CMD...: wait_for CMD, giving up early when berth exits;
# CMD's status at the end.
or_gone() { "$@" || gone "$berth_pid"; }
wait_up() {
  local limit=$1
  shift
  wait_for "$limit" or_gone "$@"
  "$@"
}
# did_not_come_up RUN_DIR NAME: says so, then ends that berth.
did_not_come_up() {
  fail "$2 run did not come up: $(cat "$1.out" "$1.err")"
  kill -9 "$berth_pid" 2>/dev/null
  wait "$berth_pid" 2>/dev/null
  berth_pid=
}
# state_is RUN_DIR EXPR: EXPR (Python) holds on RUN_DIR/state.json, with
# s the state and w its workers by id.
state_is() {
  $PY - "$1/state.json" "$2" <<'PY' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1]))
w = {x["id"]: x for x in s["workers"]}
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
# events RUN_DIR: "kind worker restarts;" for each line of events.jsonl.
events() {
  $PY -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(e["kind"], e["worker"], e["restarts"])' "$1/events.jsonl" 2>/dev/null | tr '\n' ';'
}
# steps JOB: "STEP NAME NODE" for each live step of JOB.
steps() { timeout 10 squeue -h -s -j "$1" -o '%i %j %N' 2>/dev/null | sort; }
step_of() { steps "$1" | awk -v n="$2" '$2 == n { print $1 }'; }
# env_of RUN_DIR ID VAR: VAR in the environment the worker's /env serves.
env_of() {
  $PY - "$1/state.json" "$2" "$3" <<'PY' 2>/dev/null
import json, sys, urllib.request
w = [x for x in json.load(open(sys.argv[1]))["workers"] if x["id"] == sys.argv[2]][0]
port = w["ports"][0]["port"]
e = json.load(urllib.request.urlopen("http://127.0.0.1:%d/env" % port, timeout=5))
print(e.get("env", e)[sys.argv[3]])
PY
}
# placed RUN_DIR: "ID@NODE:DEVICES:PID" for each worker of state.json.
placed() {
  $PY -c "import json,sys; print(' '.join('%s@%s:%s:%s' % (w['id'], w['node'], w['gpus'], w['pid']) for w in json.load(open(sys.argv[1]))['workers']))" "$1/state.json"
}
# same_places BEFORE AFTER IDS: placed's BEFORE and AFTER name exactly the
# workers IDS (space-separated), each on the node and devices it had, with
# a new pid.
same_places() {
  $PY - "$@" <<'PY'
import sys
def parse(t):
    return {i: rest.split(":") for i, rest in (x.split("@") for x in t.split())}
b, a, ids = parse(sys.argv[1]), parse(sys.argv[2]), set(sys.argv[3].split())
assert b.keys() == a.keys() == ids, (b, a)
for i in ids:
    assert a[i][:2] == b[i][:2] and a[i][2] != b[i][2], (i, b[i], a[i])
PY
}
# new_steps BEFORE AFTER IDS: in steps' BEFORE and AFTER, each worker of
# IDS has one step, a new one after, on the node it had.
new_steps() {
  $PY - "$@" <<'PY'
import sys
ids = set(sys.argv[3].split())
def parse(t):
    return {n: (s, node) for s, n, node in (l.split() for l in t.splitlines()) if n in ids}
b, a = parse(sys.argv[1]), parse(sys.argv[2])
assert b.keys() == a.keys() == ids, (b, a)
for n in ids:
    assert a[n][0] != b[n][0] and a[n][1] == b[n][1], (n, b[n], a[n])
PY
}

# --- 1. A rollout instance crashes once: it alone restarts.
cat > "$T/rollout.yaml" <<YAML
name: rollout-restart
backend: slurm
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec:
      - {cpu: 1, gpu: 4, ports: [http], cmd: [$worker]}
      - {cpu: 1, gpu: 4, ports: [http], cmd: $(crash_once "$T/once.rollout" 2 3)}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 2, window_s: 600, backoff_s: [0.2, 0.4]}
YAML
r=$T/r1
t0=$(now)
start_berth "$T/rollout.yaml" "$r"
if came_up "$r"; then
  job=$(job_of "$r")
  pid0=$($PY -c "import json,sys; print([w for w in json.load(open(sys.argv[1]))['workers'] if w['id']=='rollout/0'][0]['pid'])" "$r/state.json")
  port1=$(env_of "$r" rollout/1 BERTH_PORT_HTTP)
  step0=$(step_of "$job" rollout/0)
  step1=$(step_of "$job" rollout/1)
  [ -n "$step0" ] && [ -n "$step1" ] && [ -n "$port1" ] || fail "rollout: before the crash: port $port1, steps $(steps "$job")"
  [ -s "$r/events.jsonl" ] && fail "rollout: the crash came before the test looked (raise --exit-after): $(cat "$r/events.jsonl")"
  if wait_up 30 state_is "$r" 'w["rollout/1"]["restarts"] == 1 and w["rollout/1"]["state"] == "ready"'; then
    ok "rollout: rollout/1 crashed and is ready again $(since "$t0") s after berth run"
  else
    fail "rollout: no restart: $(cat "$r.out" "$r.err")"
  fi
  state_is "$r" 's["phase"] == "running" and w["rollout/0"]["restarts"] == 0 and w["rollout/0"]["state"] == "ready" and w["rollout/0"]["pid"] == '"$pid0" &&
    ! gone "$berth_pid" && ok "rollout: the run stays running, rollout/0 untouched (pid $pid0, restarts 0)" ||
    fail "rollout: state after the restart: $(cat "$r/state.json")"
  got=$(events "$r")
  want="failed rollout/1 0;restart_in rollout/1 1;restarted rollout/1 1;"
  [ "$got" = "$want" ] && ok "rollout: events.jsonl: $got" || fail "rollout: events.jsonl: $got (want $want)"
  new1=$(step_of "$job" rollout/1)
  if [ -n "$new1" ] && [ "$new1" != "$step1" ] && [ "$(step_of "$job" rollout/0)" = "$step0" ] &&
     [ "$(steps "$job" | grep -c " rollout/")" = 2 ]; then
    ok "rollout: the new rollout/1 is step $new1 of job $job (was $step1); rollout/0 still step $step0"
  else
    fail "rollout: steps after the restart (before: $step0 $step1): $(steps "$job")"
  fi
  port=$(env_of "$r" rollout/1 BERTH_PORT_HTTP)
  [ -n "$port" ] && [ "$port" != "$port1" ] && ok "rollout: the new rollout/1 serves on a new port ($port1 -> $port)" \
    || fail "rollout: rollout/1's port was $port1, now '$port'"
  "$berth" events "$r" > "$r.events" 2>&1
  grep -q "restart_in .*rollout/1 .*worker rollout/1 exited with code 3  \[restart 1, in 0.2 s\]" "$r.events" &&
    ok "rollout: berth events shows the restart" || fail "rollout: berth events: $(cat "$r.events")"
  stop_run "$r" rollout
else
  did_not_come_up "$r" rollout
fi

# --- 2. A training rank crashes once: the whole gang and the forks on it
#        restart where they were.
cat > "$T/train.yaml" <<YAML
name: train-restart
backend: slurm
roles:
  - name: train
    replicas: 2
    placement: shared
    scheduling_spec:
      - {cpu: 1, gpu: 8, ports: [http], cmd: [$worker]}
      - {cpu: 1, gpu: 8, ports: [http], cmd: $(crash_once "$T/once.train" 2 4)}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 1, backoff_s: [0.2, 0.2]}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: train, fork: true}
    scheduling_spec: {cpu: 1, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML
gang="train/0 train/1 ref/0 ref/1"
r=$T/r2
t0=$(now)
start_berth "$T/train.yaml" "$r"
if came_up "$r"; then
  job=$(job_of "$r")
  before=$(placed "$r")
  seen1=$(env_of "$r" train/1 SLURMD_NODENAME):$(env_of "$r" train/1 CUDA_VISIBLE_DEVICES)
  master1=$(env_of "$r" train/1 MASTER_PORT)
  steps_before=$(steps "$job")
  [ -s "$r/events.jsonl" ] && fail "train: the crash came before the test looked (raise --exit-after): $(cat "$r/events.jsonl")"
  state_is "$r" 'w["train/0"]["node"] != w["train/1"]["node"]' ||
    fail "train: both ranks on one node, stickiness would prove little: $before"
  if wait_up 30 state_is "$r" 'all(x["restarts"] == 1 and x["state"] == "ready" for x in w.values())'; then
    ok "train: every rank and fork restarted once, ready again $(since "$t0") s after berth run"
  else
    fail "train: no gang restart: $(cat "$r.out" "$r.err")"
  fi
  after=$(placed "$r")
  same_places "$before" "$after" "$gang" && ok "train: same nodes and devices, new pids: $after" ||
    fail "train: before $before, after $after"
  seen2=$(env_of "$r" train/1 SLURMD_NODENAME):$(env_of "$r" train/1 CUDA_VISIBLE_DEVICES)
  [ "$seen1" = "$seen2" ] && [ "$seen1" != ":" ] && ok "train/1 runs on $seen2 (node:devices as Slurm gave them) before and after" \
    || fail "train/1 ran on $seen1, now on $seen2"
  master=$(env_of "$r" train/1 MASTER_PORT)
  [ -n "$master" ] && [ "$master" != "$master1" ] && ok "train: a new rendezvous port ($master1 -> $master)" \
    || fail "train: MASTER_PORT was $master1, now '$master'"
  if new_steps "$steps_before" "$(steps "$job")" "$gang"; then
    ok "train: every rank and fork is a new step of job $job on its node: $(steps "$job" | grep -E 'train/|ref/' | tr '\n' ' ')"
  else
    fail "train: steps before: $steps_before; after: $(steps "$job")"
  fi
  got=$(events "$r")
  want="failed train/1 0;restart_in train/1 1;restarted train/1 1;"
  [ "$got" = "$want" ] && ok "train: events.jsonl: $got" || fail "train: events.jsonl: $got (want $want)"
  state_is "$r" 's["phase"] == "running"' && ok "train: the run stays running" || fail "train: phase: $(cat "$r/state.json")"
  stop_run "$r" train
else
  did_not_come_up "$r" train
fi

# --- 3. A node rank of a 2-node (deferred) rollout instance crashes once:
#        the head and the node rank restart, each on its node.
cat > "$T/deferred.yaml" <<YAML
name: deferred-restart
backend: slurm
roles:
  - name: rollout
    replicas: 1
    instance: {tp: 8, pp: 2}
    scheduling_spec: {cpu: 0.5, gpu: 1, ports: [http], cmd: $(crash_once "$T/once.deferred" 2 6 rollout/0.1)}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 1, backoff_s: [0.2, 0.2]}
YAML
instance="rollout/0 rollout/0.1"
r=$T/r3
t0=$(now)
start_berth "$T/deferred.yaml" "$r"
if came_up "$r"; then
  job=$(job_of "$r")
  before=$(placed "$r")
  steps_before=$(steps "$job")
  [ -s "$r/events.jsonl" ] && fail "deferred: the crash came before the test looked (raise --exit-after): $(cat "$r/events.jsonl")"
  if wait_up 30 state_is "$r" 'all(x["restarts"] == 1 and x["state"] == "ready" for x in w.values())'; then
    ok "deferred: the head and its node rank restarted once, ready again $(since "$t0") s after berth run"
  else
    fail "deferred: no restart: $(cat "$r.out" "$r.err")"
  fi
  after=$(placed "$r")
  same_places "$before" "$after" "$instance" && state_is "$r" 'w["rollout/0"]["node"] != w["rollout/0.1"]["node"]' &&
    ok "deferred: on the two nodes and devices it had, new pids: $after" || fail "deferred: before $before, after $after"
  new_steps "$steps_before" "$(steps "$job")" "$instance" && ok "deferred: both are new steps of job $job" ||
    fail "deferred: steps before: $steps_before; after: $(steps "$job")"
  got=$(events "$r")
  want="failed rollout/0.1 0;restart_in rollout/0.1 1;restarted rollout/0.1 1;"
  [ "$got" = "$want" ] && ok "deferred: events.jsonl: $got" || fail "deferred: events.jsonl: $got (want $want)"
  stop_run "$r" deferred
else
  did_not_come_up "$r" deferred
fi

# --- 4. Restarts used up: rollout/1 crashes one second after every start.
cat > "$T/budget.yaml" <<YAML
name: budget
backend: slurm
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec:
      - {cpu: 1, gpu: 4, ports: [http], cmd: [$worker]}
      - {cpu: 1, gpu: 4, ports: [http], cmd: [$worker, --exit-after, "1", --exit-code, "5"]}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 1, window_s: 600, backoff_s: [0.2, 0.2]}
YAML
r=$T/r4
t0=$(now)
start_berth "$T/budget.yaml" "$r"
if wait_for 60 gone "$berth_pid"; then
  wait "$berth_pid"
  rc=$?
  berth_pid=
  took=$(since "$t0")
  if [ $rc -eq 5 ] &&
     grep -q "worker rollout/1 exited with code 5; its unit rollout/1 restarted 1 time(s) within 600 s (restart.max_restarts 1): giving up" "$r.err"; then
    ok "budget: berth exited 5 after $took s, naming the worker, the cause and the budget"
  else
    fail "budget: rc=$rc after $took s: $(cat "$r.err")"
  fi
  got=$(events "$r")
  want="failed rollout/1 0;restart_in rollout/1 1;restarted rollout/1 1;failed rollout/1 1;given_up rollout/1 1;"
  [ "$got" = "$want" ] && ok "budget: events.jsonl: $got" || fail "budget: events.jsonl: $got (want $want)"
  state_is "$r" 's["phase"] == "failed"' && ok "budget: state.json says failed" || fail "budget: $(cat "$r/state.json")"
  if nothing_left 20; then ok "budget: nothing left (no job, step or process)"
  else fail "budget left: $(what_is_left)"; fi
else
  fail "budget: berth still runs after 60 s: $(cat "$r.out" "$r.err")"
fi

# --- 5. on_failure: drop: rollout/1 crashes, the run goes on without it.
sed -e 's/on_failure: restart/on_failure: drop\n    min_replicas: 1/' -e '/restart: {/d' \
  -e 's/name: budget/name: drops/' "$T/budget.yaml" > "$T/drop.yaml"
r=$T/r5
t0=$(now)
start_berth "$T/drop.yaml" "$r"
if came_up "$r"; then
  job=$(job_of "$r")
  dropped() { grep -q '"kind":"dropped","role":"rollout","worker":"rollout/1"' "$r/events.jsonl" 2>/dev/null; }
  if wait_up 30 dropped; then ok "drop: rollout/1 dropped $(since "$t0") s after berth run"
  else fail "drop: no drop: $(cat "$r.out" "$r.err")"; fi
  got=$(events "$r")
  [ "$got" = "failed rollout/1 0;dropped rollout/1 0;" ] && ok "drop: events.jsonl: $got" || fail "drop: events.jsonl: $got"
  "$berth" status "$r" > "$r.status" 2>&1
  if ! gone "$berth_pid" && state_is "$r" 's["phase"] == "running" and w["rollout/0"]["state"] == "ready"' &&
     grep -q "rollout: degraded (1 of 2 ready)" "$r.status"; then
    ok "drop: the run goes on, degraded, with rollout/0"
  else
    fail "drop: $(cat "$r.status")"
  fi
  only0() { [ "$(steps "$job" | awk '$2 ~ /^rollout\// { print $2 }' | tr '\n' ' ')" = "rollout/0 " ]; }
  wait_for 10 only0 && ok "drop: rollout/1's step is gone, rollout/0's runs" || fail "drop: steps: $(steps "$job")"
  stop_run "$r" drop
else
  did_not_come_up "$r" drop
fi

# --- 6. rollout/1 is ready, then crashes while rollout/0 still starts (as
#        vLLM instances load at different speeds): an exit after start-up
#        like any other, its unit restarted; not a failed start of the role,
#        and not a port conflict (its port is only in TIME_WAIT).
cat > "$T/early.yaml" <<YAML
name: early-crash
backend: slurm
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec:
      - {cpu: 1, gpu: 4, ports: [http], cmd: [$worker, --startup-delay, "4"]}
      - {cpu: 1, gpu: 4, ports: [http], cmd: $(crash_once "$T/once.early" 1 7)}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 1, backoff_s: [0.2, 0.2]}
YAML
r=$T/r6
t0=$(now)
start_berth "$T/early.yaml" "$r"
if came_up "$r"; then
  if wait_up 30 state_is "$r" 'w["rollout/1"]["restarts"] == 1 and w["rollout/1"]["state"] == "ready"'; then
    ok "early: rollout/1 restarted, ready again $(since "$t0") s after berth run"
  else
    fail "early: no restart: $(cat "$r.out" "$r.err")"
  fi
  # The premise: rollout/1 ended before rollout/0 served.
  $PY - "$r/merged.log" <<'PY' || fail "early: rollout/1 did not crash before rollout/0 was up: $(cat "$r/merged.log")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
crash = [i for i, l in enumerate(lines) if l.startswith("[rollout/1] ") and "exiting with code 7" in l]
up0 = [i for i, l in enumerate(lines) if re.match(r"\[rollout/0(@\d+)?\] .*serving", l)]
assert crash and up0 and crash[0] < up0[0], (crash, up0)
PY
  state_is "$r" 's["phase"] == "running" and w["rollout/0"]["restarts"] == 0 and w["rollout/0"]["state"] == "ready"' &&
    ! grep -q "port conflict" "$r.out" && ok "early: rollout/0 untouched, the run running, no port conflict claimed" ||
    fail "early: $(grep -v '^    |' "$r.out"; cat "$r/state.json")"
  got=$(events "$r")
  want="failed rollout/1 0;restart_in rollout/1 1;restarted rollout/1 1;"
  [ "$got" = "$want" ] && ok "early: events.jsonl: $got" || fail "early: events.jsonl: $got (want $want)"
  stop_run "$r" early
else
  did_not_come_up "$r" early
fi

[ $failures -eq 0 ] && echo "all slurm restart tests passed" || { echo "$failures failure(s)" >&2; exit 1; }
