#!/usr/bin/env bash
# End-to-end check of scripts/slurm-cluster.sh against the real Slurm daemons:
# a 4-node cluster comes up in a fresh directory, shows 4 idle nodes with 8
# GPUs each, runs a 2-node GPU step, loses a node with fail-node (its job ends
# NODE_FAIL and nothing of it is left on the node), gets it back with
# start-node, and after `down` no process of the cluster is left and its
# directory is gone. Needs root and Slurm (scripts/install-deps.sh); skipped,
# saying why, without them (tests/slurm/need_slurm.sh).
#
# Usage (from anywhere): tests/slurm/slurm_cluster_test.sh
# Each run uses its own directory and its own ports, so runs may overlap.

set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
cluster=$root/scripts/slurm-cluster.sh
export PATH="$PATH:/usr/sbin:/sbin"

# shellcheck source=need_slurm.sh
. "$root/tests/slurm/need_slurm.sh"
need_slurm

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok - $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

dir=$(mktemp -d /tmp/berth-slurm-test.XXXXXX) || exit 1
scratch=$(mktemp -d /tmp/berth-slurm-test-scratch.XXXXXX) || exit 1
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ ! -d "$dir" ] || "$cluster" down "$dir" >/dev/null 2>&1 || echo "warning: down $dir failed" >&2
  [ ! -d "$dir" ] || rmdir "$dir" 2>/dev/null   # up failed before it wrote anything
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS COMMAND...: until the command succeeds; 1 when time runs out.
wait_for() {
  local deadline; deadline=$(awk -v s="$1" -v n="$(now)" 'BEGIN { printf "%.2f", n + s }'); shift
  until "$@"; do
    awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n < d) }' || return 1
    sleep 0.1
  done
}

# --- up
t0=$(now)
if ! BERTH_SLURM_NODES=4 BERTH_SLURM_GPUS=8 "$cluster" up "$dir" >"$scratch/up.out" 2>"$scratch/up.err"; then
  cat "$scratch/up.err" >&2
  fail "up $dir"
  exit 1
fi
t_up=$(elapsed "$t0")
if [ "$(cat "$scratch/up.out")" = "export SLURM_CONF=$dir/etc/slurm.conf" ]; then
  ok "up in ${t_up}s; stdout is only the export line"
else
  fail "up printed: $(cat "$scratch/up.out")"
fi
eval "$(cat "$scratch/up.out")"

# --- 4 idle nodes with 8 GPUs
nodes=$(timeout 10 sinfo -N -h -O 'NodeList:|,StateCompact:|,Gres:|,CPUs:|' | sort)
expected=$(for i in 1 2 3 4; do echo "node$i|idle|gpu:8|16|"; done)
if [ "$nodes" = "$expected" ]; then ok "4 idle nodes with 8 GPUs"; else fail "sinfo: $nodes"; fi

# --- a second up is a no-op
t0=$(now)
out=$("$cluster" up "$dir" 2>"$scratch/up2.err")
if [ "$out" = "export SLURM_CONF=$dir/etc/slurm.conf" ] && ! grep -q 'started slurmd' "$scratch/up2.err"; then
  ok "up again is a no-op ($(elapsed "$t0")s)"
else
  fail "second up: $out $(cat "$scratch/up2.err")"
fi

# --- a 2-node step with 2 GPUs per node
gpus=$(timeout 30 srun -N2 --ntasks-per-node=1 --gres=gpu:2 printenv SLURM_STEP_GPUS 2>"$scratch/srun.err")
if [ "$gpus" = "$(printf '0,1\n0,1')" ]; then
  ok "srun -N2 --gres=gpu:2: SLURM_STEP_GPUS 0,1 on each node"
else
  fail "srun printed '$gpus' (rc $?): $(cat "$scratch/srun.err")"
fi
hosts=$(timeout 30 srun -N4 --ntasks-per-node=1 hostname 2>"$scratch/srun.err" | sort | tr '\n' ' ')
if [ "$hosts" = "node1 node2 node3 node4 " ]; then ok "each task sees its node's name as hostname"; else fail "hostnames: $hosts $(cat "$scratch/srun.err")"; fi

# --- fail-node: the job on node3 ends NODE_FAIL and nothing of it stays
timeout 60 srun -N1 -w node3 --gres=gpu:1 bash -c 'sleep 300 & sleep 301' >/dev/null 2>"$scratch/srun3.err" &
srun_pid=$!
bg_pids+=("$srun_pid")
job_state() { timeout 10 squeue -h -t all -n "$1" -o %T 2>/dev/null; }
on_node3() { "$cluster" nodes-procs "$dir" 2>/dev/null | grep -q '^node3 task .*sleep 30[01]'; }
if wait_for 15 on_node3; then
  jobid=$(timeout 10 squeue -h -w node3 -o %i | head -n 1)
  t0=$(now)
  "$cluster" fail-node "$dir" node3 2>"$scratch/fail.err" || fail "fail-node: $(cat "$scratch/fail.err")"
  nf() { [ "$(timeout 10 squeue -h -t all -j "$jobid" -o %T 2>/dev/null)" = NODE_FAIL ]; }
  if wait_for 10 nf; then ok "fail-node: job $jobid is NODE_FAIL after $(elapsed "$t0")s"
  else fail "job $jobid is $(timeout 10 squeue -h -t all -j "$jobid" -o %T) after fail-node"; fi
  # (A full listing: Slurm 22.05's `sinfo -n node3` can show stale allocations.)
  node3=$(timeout 10 sinfo -h -N -O 'NodeList:|,StateCompact:|,Reason:|' | grep '^node3|')
  if [ "$node3" = "node3|down|berth slurm-cluster.sh fail-node|" ]; then
    ok "node3 is down with fail-node's reason"
  else
    fail "node3 after fail-node: $node3"
    cat "$scratch/fail.err" >&2
  fi
  left=$("$cluster" nodes-procs "$dir" | grep '^node3 ')
  if [ -z "$left" ]; then ok "no process left under node3"; else fail "left on node3: $left"; fi
  srun_gone() { ! kill -0 "$srun_pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$srun_pid/stat" 2>/dev/null)" = Z ]; }
  if wait_for 15 srun_gone; then ok "the job's srun ended"; else fail "srun $srun_pid still runs after fail-node"; fi
else
  fail "the job on node3 did not start: $(cat "$scratch/srun3.err") $("$cluster" nodes-procs "$dir") $(timeout 10 squeue)"
fi

# --- start-node brings it back
if "$cluster" start-node "$dir" node3 2>"$scratch/start.err" &&
   timeout 10 sinfo -h -N -O 'NodeList:|,StateCompact:|' | grep -qx 'node3|idle|'; then
  ok "start-node: node3 is idle again"
else
  fail "start-node: $(cat "$scratch/start.err"); $(timeout 10 sinfo -h -N)"
fi

# --- down, with a batch job, a step and its client still running
timeout 10 sbatch -N1 -w node1 -o /dev/null --wrap 'sleep 302' >/dev/null || fail "sbatch"
timeout 60 srun -N2 -w node2,node4 bash -c 'setsid sleep 303 & sleep 304' >/dev/null 2>&1 &
bg_pids+=("$!")
running() { [ "$("$cluster" nodes-procs "$dir" | grep -c ' task .*sleep 30[234]')" -ge 5 ]; }
wait_for 15 running || fail "jobs for the down test did not start: $("$cluster" nodes-procs "$dir")"

t0=$(now)
"$cluster" down "$dir" 2>"$scratch/down.err" || fail "down: $(cat "$scratch/down.err")"
t_down=$(elapsed "$t0")
[ ! -e "$dir" ] && ok "down in ${t_down}s removed $dir" || fail "$dir still exists after down"

# Nothing of the cluster may remain: no live process that holds the cluster's
# directory in its arguments, its environment or an open file.
# (This shell's own commands are skipped: they hold $dir in their arguments.)
leftovers() {
  local p stat st ppid
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
    { read -r stat < "/proc/$p/stat"; } 2>/dev/null || continue
    read -r st ppid _ <<< "${stat##*) }"
    [ "$st" != Z ] && [ "$st" != X ] && [ "$ppid" != "$BASHPID" ] && [ "$ppid" != $$ ] || continue
    if tr '\0' '\n' 2>/dev/null < "/proc/$p/cmdline" | grep -qF "$dir" ||
       tr '\0' '\n' 2>/dev/null < "/proc/$p/environ" | grep -qE "^(SLURM_CONF|BERTH_SLURM_DIR)=$dir(/|$)" ||
       find "/proc/$p/fd" -maxdepth 1 -lname "$dir/*" 2>/dev/null | grep -q .; then
      echo "$p $(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")"
    fi
  done
}
export -n SLURM_CONF
left=$(leftovers)
if [ -z "$left" ]; then ok "no process of the cluster is left"; else fail "left after down: $left"; fi

# --- down leaves a directory alone when up did not make it
mkdir -p "$scratch/other" && touch "$scratch/other/keep"
if ! "$cluster" down "$scratch/other" 2>/dev/null && [ -e "$scratch/other/keep" ]; then
  ok "down refuses a directory without the marker"
else
  fail "down touched $scratch/other"
fi
if ! "$cluster" up "$scratch/other" >/dev/null 2>&1 && [ ! -e "$scratch/other/etc" ]; then
  ok "up refuses a non-empty directory it did not make"
else
  fail "up used $scratch/other"
fi

echo "up ${t_up}s, down ${t_down}s"
if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all slurm cluster checks passed"
