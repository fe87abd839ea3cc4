#!/usr/bin/env bash
# berth killed with SIGKILL on a real Slurm (scripts/slurm-cluster.sh): the
# job that holds the experiment lives no longer than berth plus a bound.
#   1. SIGKILL while the job runs: the job cancels itself once berth's
#      heartbeat stops (within 30 s), every node is idle again, no step, no
#      srun, no worker is left.
#   2. SIGKILL while the job is pending behind another job that holds every
#      node; the beat is then old, as if berth had died long ago; the nodes
#      are freed: the job starts and ends at once, no worker ever starts.
#      Meanwhile `berth plan` says PENDING naming the busy nodes, not "never
#      fits", and what cannot fit at all is still INFEASIBLE.
#   3. SIGKILL while pending, then `berth down` on the run dir: the job
#      leaves the queue, and down says so.
#   4. SIGKILL while running, then `berth down` at once: down cancels the
#      job, says so, and a second down says there is nothing to cancel.
#   5. SIGKILL while running, then `berth run` again on the run dir: the old
#      job is cancelled first.
# Needs root and Slurm (scripts/install-deps.sh).
#
# Usage: tests/slurm/slurm_sigkill_test.sh BERTH DEMO_WORKER

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

fault_test_begin kill 2

cat > "$T/exp.yaml" <<YAML
name: killed
backend: slurm
slurm: {queue_timeout: 120}
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 4, ports: [http], cmd: [$worker]}
    readiness: {http: {port: http, path: /health}}
YAML

start_berth() {  # RUN_DIR
  "$berth" run "$T/exp.yaml" --run-dir "$1" > "$1.out" 2> "$1.err" &
  berth_pid=$!
}
kill_berth() {
  kill -9 "$berth_pid" 2>/dev/null
  wait "$berth_pid" 2>/dev/null
  berth_pid=
}
# The berth of RUN_DIR (this one, not a dead one's state.json) runs its workers.
berth_runs() { phase_is "$1" running && grep -q "\"berth_pid\": $berth_pid," "$1/state.json"; }

# --- 1. SIGKILL while running
start_berth "$T/r1"
if wait_for 60 phase_is "$T/r1" running; then
  job=$(job_of "$T/r1")
  kill_berth
  t0=$(now)
  if wait_for 30 job_ended "$job"; then
    ok "SIGKILL while running: job $job ended $(since "$t0") s after berth died"
  else
    fail "SIGKILL while running: job $job still there after 30 s: $(squeue -j "$job")"
  fi
  grep -q "berth is gone" "$T/r1/holder.log" && ok "the holder job said why it ended" \
    || fail "holder.log: $(cat "$T/r1/holder.log")"
  if nothing_left 10; then ok "SIGKILL while running: nodes idle, no job, step or process left"
  else fail "SIGKILL while running left: $(what_is_left)"; fi
else
  fail "r1 did not come up: $(cat "$T/r1.out" "$T/r1.err")"
  kill_berth
fi

# --- 2. SIGKILL while pending; the job starts later and ends at once
blocker=$(sbatch --parsable --output=/dev/null -N2 --exclusive --wrap "sleep 600")
all_alloc() { [ -z "$(sinfo -h -N -o '%t' | grep -v alloc)" ]; }
wait_for 20 all_alloc || fail "the blocking job does not hold the nodes: $(sinfo -N)"

# berth plan meanwhile: busy is not never-fits.
"$berth" plan "$T/exp.yaml" > "$T/plan.out" 2> "$T/plan.err"
rc=$?
if [ $rc -eq 3 ] && grep -q "PENDING" "$T/plan.err" && grep -q "node1 (.*in use)" "$T/plan.err" &&
   ! grep -q "never fit" "$T/plan.err"; then
  ok "plan on busy nodes: PENDING, naming them"
else
  fail "plan on busy nodes: rc=$rc $(cat "$T/plan.err")"
fi
sed 's/gpu: 4/gpu: 4, cpu: 17/; s/cpu: 1, //' "$T/exp.yaml" > "$T/huge.yaml"
"$berth" plan "$T/huge.yaml" > /dev/null 2> "$T/huge.err"
rc=$?
if [ $rc -eq 3 ] && grep -q "INFEASIBLE" "$T/huge.err" && ! grep -q "PENDING" "$T/huge.err"; then
  ok "plan of what never fits: INFEASIBLE"
else
  fail "plan of what never fits: rc=$rc $(cat "$T/huge.err")"
fi

start_berth "$T/r2"
if wait_for 30 grep -q "is PENDING" "$T/r2.out"; then
  job=$(job_of "$T/r2")
  kill_berth
  # As if berth had died a minute ago (waiting out the heartbeat limit would
  # only make the test slower): the job must end as soon as it starts.
  touch -d '-60 seconds' "$T/r2/slurm.heartbeat"
  scancel "$blocker"
  t0=$(now)
  started() { [ -n "$(squeue -h -t all -j "$job" -o %T | grep -v PENDING)" ]; }
  wait_for 30 started || fail "pending job $job never started after the nodes were freed"
  t1=$(now)
  if wait_for 10 job_ended "$job"; then
    ok "SIGKILL while pending: job $job started $(since "$t0") s after the nodes were freed and ended $(since "$t1") s after it started"
  else
    fail "SIGKILL while pending: job $job did not end: $(squeue -t all -j "$job")"
  fi
  ls "$T/r2/logs/"*.log >/dev/null 2>&1 && fail "a worker was started: $(ls "$T/r2/logs")" \
    || ok "no worker ever started"
  if nothing_left 10; then ok "SIGKILL while pending: nodes idle, nothing left"
  else fail "SIGKILL while pending left: $(what_is_left)"; fi
else
  fail "r2 did not pend: $(cat "$T/r2.out" "$T/r2.err")"
  kill_berth
  scancel "$blocker"
fi

# --- 3. SIGKILL while pending, then berth down
blocker=$(sbatch --parsable --output=/dev/null -N2 --exclusive --wrap "sleep 600")
wait_for 20 all_alloc || fail "the blocking job does not hold the nodes: $(sinfo -N)"
start_berth "$T/r3"
if wait_for 30 grep -q "is PENDING" "$T/r3.out"; then
  job=$(job_of "$T/r3")
  dead=$berth_pid
  kill_berth
  "$berth" down "$T/r3" > "$T/down3.out" 2>&1
  rc=$?
  if [ $rc -eq 0 ] && grep -q "cancelled Slurm job $job (PENDING, left by berth pid $dead, which is gone)" "$T/down3.out" &&
     job_ended "$job"; then
    ok "berth down on a dead berth's pending job: cancelled, and said so"
  else
    fail "down of a pending job: rc=$rc $(cat "$T/down3.out"); $(squeue -t all -j "$job")"
  fi
else
  fail "r3 did not pend: $(cat "$T/r3.out" "$T/r3.err")"
  kill_berth
fi
scancel "$blocker"
nothing_left 15 || fail "after the pending down: $(what_is_left)"

# --- 4. SIGKILL while running, then berth down at once
start_berth "$T/r4"
if wait_for 60 phase_is "$T/r4" running; then
  job=$(job_of "$T/r4")
  dead=$berth_pid
  kill_berth
  t0=$(now)
  "$berth" down "$T/r4" > "$T/down4.out" 2>&1
  rc=$?
  took=$(since "$t0")
  if [ $rc -eq 0 ] && grep -q "cancelled Slurm job $job (RUNNING, left by berth pid $dead, which is gone)" "$T/down4.out"; then
    ok "berth down on a dead berth's running job: cancelled in $took s, and said so"
  else
    fail "down of a running job: rc=$rc $(cat "$T/down4.out")"
  fi
  if nothing_left 10; then ok "after down: nodes idle, no job, step or process left"
  else fail "after down: $(what_is_left)"; fi
  "$berth" down "$T/r4" > "$T/down4b.out" 2>&1
  grep -q "Slurm job $job of this run has already ended (CANCELLED); nothing to cancel" "$T/down4b.out" \
    && ok "a second down: nothing to cancel, and says so" || fail "second down: $(cat "$T/down4b.out")"
else
  fail "r4 did not come up: $(cat "$T/r4.out" "$T/r4.err")"
  kill_berth
fi

# --- 5. SIGKILL while running, then berth run again on the run dir
start_berth "$T/r5"
if wait_for 60 phase_is "$T/r5" running; then
  job=$(job_of "$T/r5")
  kill_berth
  mv "$T/r5.out" "$T/r5.first.out"
  start_berth "$T/r5"
  if wait_for 60 berth_runs "$T/r5" && grep -q "cancelled Slurm job $job (RUNNING" "$T/r5.out" &&
     job_ended "$job"; then
    ok "berth run on a dead berth's run dir: its job cancelled first, then a new one runs"
  else
    fail "second run on r5: $(cat "$T/r5.out" "$T/r5.err"); $(squeue -t all -j "$job")"
  fi
  "$berth" down "$T/r5" > /dev/null 2>&1
  wait_for 30 gone "$berth_pid" || fail "berth down did not stop berth $berth_pid"
  kill_berth
  if nothing_left 10; then ok "second run stopped: nothing left"
  else fail "after the second run: $(what_is_left)"; fi
else
  fail "r5 did not come up: $(cat "$T/r5.out" "$T/r5.err")"
  kill_berth
fi

[ $failures -eq 0 ] && echo "all slurm SIGKILL tests passed" || { echo "$failures failure(s)" >&2; exit 1; }
