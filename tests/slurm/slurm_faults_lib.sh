# shellcheck shell=bash
# Sourced by the Slurm fault tests and the SIGKILL soak
# (tests/slurm/slurm_sigkill_test.sh, slurm_node_loss_test.sh,
# bench/soak_sigkill_slurm.sh): waiting on conditions with deadlines, and
# counting what a run left behind on the test cluster of
# scripts/slurm-cluster.sh: jobs, steps and processes. Needs $cluster (the
# script), $dir (the cluster's directory) and SLURM_CONF exported.
# shellcheck disable=SC2154  # cluster and dir: set by the script that sources this

PY=/usr/bin/python3

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok - $*"; }

# fault_test_begin NAME NODES: scratch folders $dir (the cluster's) and $T,
# a cleanup at exit (berth $berth_pid killed, the cluster stopped, $T
# removed unless KEEP is set), and a test cluster of NODES nodes of 8 GPUs,
# its environment exported.
fault_test_begin() {
  dir=$(mktemp -d "/tmp/berth-slurm-$1.XXXXXX") || exit 1
  T=$(mktemp -d "/tmp/berth-slurm-$1-t.XXXXXX") || exit 1
  berth_pid=
  trap fault_test_cleanup EXIT
  trap 'exit 1' INT TERM
  eval "$(BERTH_SLURM_NODES=$2 BERTH_SLURM_GPUS=8 "$cluster" up "$dir")" || { echo "FAIL: cluster up" >&2; exit 1; }
}
fault_test_cleanup() {
  [ -z "$berth_pid" ] || kill -9 "$berth_pid" 2>/dev/null
  "$cluster" down "$dir" >/dev/null 2>&1 || echo "warning: down $dir failed" >&2
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; 1 when
# SECONDS passed first.
wait_for() {
  local limit=$1 t0
  shift
  t0=$(date +%s%N)
  until "$@"; do
    [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt $((limit * 1000)) ] || return 1
    sleep 0.1
  done
}

gone() { ! kill -0 "$1" 2>/dev/null; }  # gone PID
phase_is() { grep -q "\"phase\": \"$2\"" "$1/state.json" 2>/dev/null; }
job_of() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))['slurm_job'])" "$1/state.json" 2>/dev/null; }

# live_jobs: ids of this cluster's jobs that are pending, running or ending.
live_jobs() { timeout 10 squeue -h -t pending,running,completing,configuring,suspended -o %i 2>/dev/null | sort -u; }
job_ended() { [ -z "$(timeout 10 squeue -h -j "$1" -t pending,running,completing,configuring,suspended -o %i 2>/dev/null)" ]; }
# Steps of any job (the batch and extern steps count too).
live_steps() { timeout 10 squeue -h -s -o %i 2>/dev/null; }
# Every node idle (no allocation, none completing).
nodes_idle() {
  local bad
  bad=$(timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 != "idle" && $2 != "plnd"')
  [ -z "$bad" ]
}

# leftover_procs: live processes that belong to a client of this cluster
# (SLURM_CONF in their environment: srun, berth, its supervisor, the
# workers, the holder script's children) other than the cluster's own
# daemons and the tools this shell runs to look (grep, sinfo, ...).
# Zombies do not count (PID 1 here may reap late).
leftover_procs() {
  local p stat st comm
  for p in $(grep -lsxzF -- "SLURM_CONF=$SLURM_CONF" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    { read -r stat < "/proc/$p/stat"; } 2>/dev/null || continue
    read -r st _ <<< "${stat##*) }"
    [ "$st" = Z ] || [ "$st" = X ] && continue
    { read -r comm < "/proc/$p/comm"; } 2>/dev/null || continue
    case "$comm" in slurmctld|slurmscriptd|slurmd|slurmstepd|munged) continue ;; esac
    # This shell, its subshells and what they run to look.
    case "$comm" in
      bash|sh|grep|cut|tr|awk|sed|sort|wc|cat|head|tail|date|sleep|timeout|sinfo|squeue|scontrol|python3)
        below_us "$p" && continue ;;
    esac
    echo "$p $comm $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-100)"
  done
}
# below_us PID: PID is this shell or one of its descendants.
below_us() {
  local p=$1 stat rest
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    [ "$p" = $$ ] && return 0
    { read -r stat < "/proc/$p/stat"; } 2>/dev/null || return 1
    rest=${stat##*) }
    read -r _ p _ <<< "$rest"
  done
  return 1
}
no_leftover_procs() { [ -z "$(leftover_procs)" ]; }

# nothing_left SECONDS: within SECONDS no job, no step, no process of a
# client, nothing under any slurmstepd, every node idle.
nothing_left() {
  wait_for "$1" all_clear
}
all_clear() {
  [ -z "$(live_jobs)" ] && [ -z "$(live_steps)" ] && nodes_idle && no_leftover_procs &&
    [ -z "$("$cluster" nodes-procs "$dir" 2>/dev/null)" ]
}
# What is left, for a failure message.
what_is_left() {
  echo "jobs: $(live_jobs | tr '\n' ' ')"
  echo "steps: $(live_steps | tr '\n' ' ')"
  echo "nodes: $(timeout 10 sinfo -h -N -o '%N=%t' | tr '\n' ' ')"
  echo "client processes: $(leftover_procs)"
  echo "on the nodes: $("$cluster" nodes-procs "$dir" 2>/dev/null)"
}

# stop_run RUN_DIR NAME: berth down; berth ($berth, running as $berth_pid,
# its stderr in RUN_DIR.err) exits 0 within 60 s; then nothing is left
# within 20 s. Its ok/fail lines begin with NAME.
stop_run() {
  "$berth" down "$1" > "$1.down" 2>&1 || fail "$2: berth down: $(cat "$1.down")"
  wait_for 60 gone "$berth_pid" || { fail "$2: berth still runs after down"; kill -9 "$berth_pid"; }
  wait "$berth_pid"
  local rc=$?
  berth_pid=
  [ $rc -eq 0 ] && ok "$2: berth down, berth exited 0" || fail "$2: berth exited $rc: $(tail -5 "$1.err")"
  if nothing_left 20; then ok "$2: nothing left (no job, step or process)"
  else fail "$2 left: $(what_is_left)"; fi
}
