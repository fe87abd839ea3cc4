#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for berth's Slurm backend tests.
#
# One munged (own key and socket), one slurmctld and N slurmd daemons, each
# slurmd acting as its own node (node1..nodeN, `slurmd -N nodeK` in a private
# UTS namespace so `hostname` in a task prints the node name). All nodes share
# 127.0.0.1 and differ by port. The GPUs are gres "gpu" backed by symlinks to
# /dev/null named nvidia0..; no GPU is needed. Everything lives under DIR;
# nothing under /etc is read or written. Needs root (slurmd runs the tasks as
# the submitting user) and Debian 12's slurmctld slurmd slurm-client munge
# (scripts/install-deps.sh installs them).
#
#   slurm-cluster.sh up DIR              start what is not running, wait until
#                                        every node answers; stdout is only
#                                        `export SLURM_CONF=...` (for eval)
#   slurm-cluster.sh down DIR            stop every process of this cluster, by
#                                        PID, then remove DIR (only when it
#                                        carries the marker file up wrote)
#   slurm-cluster.sh fail-node DIR NODE  set NODE DOWN, then kill-node:
#                                        its jobs end NODE_FAIL within a second
#   slurm-cluster.sh kill-node DIR NODE  SIGKILL the node's slurmd, slurmstepds
#                                        and tasks (a crash; Slurm notices after
#                                        roughly 2-3 x SlurmdTimeout)
#   slurm-cluster.sh start-node DIR NODE start NODE's slurmd again, resume it if
#                                        fail-node set it DOWN, wait until usable
#   slurm-cluster.sh nodes-procs DIR     one line per process running under a
#                                        node's slurmstepd: NODE KIND PID ARGS
#                                        (KIND: slurmstepd or task); nothing
#                                        when no job process is left
#
#   eval "$(scripts/slurm-cluster.sh up /tmp/sc)"; srun -N2 hostname; scripts/slurm-cluster.sh down /tmp/sc
#
# Knobs (environment), read when `up` first writes DIR's configuration and
# then kept in DIR/knobs.env:
#   BERTH_SLURM_NODES=4          nodes, named node1..nodeN
#   BERTH_SLURM_CPUS=16          CPUs declared per node (need not exist)
#   BERTH_SLURM_MEM_MB=64000     memory declared per node, MiB
#   BERTH_SLURM_GPUS=8           GPUs per node (0: no gres)
#   BERTH_SLURM_GPU_TYPE=        a GPU type such as a100 (gres gpu:a100:8)
#   BERTH_SLURM_PARTITION=gpu    the default partition, holding every node
#   BERTH_SLURM_EXTRA_PARTITION= NAME=NODES, a second partition (debug=node[1-2])
#   BERTH_SLURM_PORT=            first port (slurmctld); the slurmds use the next
#                                N. Default: a free range below the ephemeral
#                                ports, chosen under a lock so that clusters
#                                started side by side never share one
#   BERTH_SLURM_SLURMD_TIMEOUT=10
# Read on every call:
#   BERTH_SLURM_WAIT=30          seconds `up`/`start-node` wait for the cluster
#   BERTH_SLURM_GRACE=5          seconds between SIGTERM and SIGKILL in `down`
set -euo pipefail

readonly PROG=${0##*/}
readonly MARKER=.berth-slurm-cluster
export PATH="$PATH:/usr/sbin:/sbin"

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
fail() { say "error: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -ge 2 ] || usage
CMD=$1 DIR_ARG=$2 NODE=${3:-}
case "$CMD" in
  up|down|nodes-procs) [ $# -eq 2 ] || usage ;;
  fail-node|kill-node|start-node) [ $# -eq 3 ] || usage ;;
  *) usage ;;
esac
[ "$(id -u)" = 0 ] || fail "must run as root: slurmd starts each task as the user who submitted it"

WAIT=${BERTH_SLURM_WAIT:-30}
GRACE_MS=$(( ${BERTH_SLURM_GRACE:-5} * 1000 ))

# Every client call gets a deadline: a client whose cluster went away waits forever.
client() { timeout -k 2 10 "$@"; }

# ------------------------------------------------------------------ processes
# shellcheck source=SCRIPTDIR/slurm-cluster-procs.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/slurm-cluster-procs.sh"

# ------------------------------------------------------------------ layout
[ -n "$DIR_ARG" ] || fail "DIR is empty"
if [ "$CMD" != up ] && [ ! -d "$DIR_ARG" ]; then
  [ "$CMD" = down ] && { say "$DIR_ARG does not exist: nothing to stop"; exit 0; }
  fail "$DIR_ARG does not exist (run: $PROG up $DIR_ARG)"
fi
if [ "$CMD" = up ]; then
  if [ -d "$DIR_ARG" ] && [ ! -e "$DIR_ARG/$MARKER" ] && [ -n "$(ls -A "$DIR_ARG")" ]; then
    fail "$DIR_ARG is not empty and was not made by $PROG; choose a new or empty directory"
  fi
  mkdir -p "$DIR_ARG"
fi
DIR=$(cd "$DIR_ARG" && pwd -P)
case "$DIR" in
  /) fail "DIR must not be /" ;;
  *[!A-Za-z0-9._/+-]*) fail "DIR may hold only letters, digits and ._+-/ (Slurm's config has no quoting): $DIR" ;;
esac
[ "$CMD" = up ] || [ -e "$DIR/$MARKER" ] || fail "$DIR has no $MARKER: not a cluster made by $PROG, left alone"

CONF=$DIR/etc/slurm.conf
SOCK=$DIR/run/munge.sock
LOGS=$DIR/log
PIDS=$DIR/run
TAG="BERTH_SLURM_DIR=$DIR"   # in the environment of every daemon this script starts

node_names() { local i; for ((i = 1; i <= BERTH_SLURM_NODES; i++)); do echo "node$i"; done; }
pidfile() { local v; { read -r v < "$1"; } 2>/dev/null && [[ $v =~ ^[0-9]+$ ]] && echo "$v"; return 0; }

# daemon_pid NAME: the pid in run/NAME.pid when that process is alive and is
# one of ours (its environment carries TAG).
daemon_pid() {
  local p; p=$(pidfile "$PIDS/$1.pid")
  [ -n "$p" ] && alive "$p" && grep -qsxzF -- "$TAG" "/proc/$p/environ" && echo "$p"
  return 0
}

# stepds NODE: the slurmstepd processes of NODE. A slurmstepd keeps its node's
# log file open (inherited from the slurmd that started it); the name check
# leaves out the slurmd itself.
stepds() {
  local p
  for p in $(pids_holding "$LOGS/slurmd-$1.log"); do
    [ "$(comm_of "$p")" = slurmstepd ] && alive "$p" && echo "$p"
  done
  return 0
}

# tasks_of PID...: the job processes below slurmstepds: their descendants and
# whatever shares a session with one of those (a task that double-forked).
tasks_of() {
  [ $# -gt 0 ] || return 0
  local d sids=() p
  d=$(descendants "$@")
  for p in $d; do proc_stat "$p" && sids+=("$P_SID"); done
  { echo "$d"; [ ${#sids[@]} -eq 0 ] || session_members $(printf '%s\n' "${sids[@]}" | sort -u); } |
    grep -v '^$' | sort -un | grep -vxF -f <(printf '%s\n' "$@" $(ancestors)) || true
}

# escaped NODE: processes that slurmstepd started on NODE (it sets
# SLURMD_NODENAME) for a client of this cluster (SLURM_CONF), wherever they are
# now: this finds a task that daemonized away from its step.
escaped() {
  pids_with_env "SLURMD_NODENAME=$1" | grep -xF -f <(pids_with_env "SLURM_CONF=$CONF") || true
}

# node_tasks NODE STEPD...: the tasks of NODE, below its slurmstepds or escaped.
node_tasks() {
  local n=$1; shift
  { tasks_of "$@"; escaped "$n"; } | grep -v '^$' | sort -un | grep -vxF -f <(ancestors) || true
}

# node_procs NODE: slurmd, slurmstepds and tasks of NODE.
node_procs() {
  local s; s=$(stepds "$1")
  { daemon_pid "slurmd-$1"; echo "$s"; node_tasks "$1" $s; } | grep -v '^$' | sort -un || true
}

# ------------------------------------------------------------------ configuration
port_in_use() {  # any TCP socket, in any state, bound to local port $1
  local hex; hex=$(printf ':%04X' "$1")
  awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

range_free() {  # range_free FIRST COUNT
  local p
  for ((p = $1; p < $1 + $2; p++)); do port_in_use "$p" && return 1; done
  return 0
}

# A free block of N+1 ports below the kernel's ephemeral range (so no outgoing
# connection can take one), starting at a block derived from DIR. Runs under
# the port lock, and the daemons bind before the lock is released, so two
# clusters started at once never pick the same block.
choose_port() {
  if [ -n "${BERTH_SLURM_PORT:-}" ]; then echo "$BERTH_SLURM_PORT"; return; fi
  local count=$((BERTH_SLURM_NODES + 1)) lo=20000 hi block nblocks first k base
  read -r hi _ < /proc/sys/net/ipv4/ip_local_port_range || hi=32768
  [ "$hi" -gt $((lo + 1000)) ] || { lo=10000; }
  block=$(( (count + 15) / 16 * 16 ))
  nblocks=$(( (hi - lo) / block ))
  first=$(( $(printf '%s' "$DIR" | cksum | cut -d' ' -f1) % nblocks ))
  for ((k = 0; k < nblocks; k++)); do
    base=$(( lo + ((first + k) % nblocks) * block ))
    range_free "$base" "$count" && { echo "$base"; return; }
  done
  fail "no $count free TCP ports in $lo-$hi; set BERTH_SLURM_PORT"
}

save_knobs() {
  cat > "$DIR/knobs.env" <<EOF
BERTH_SLURM_NODES=${BERTH_SLURM_NODES:-4}
BERTH_SLURM_CPUS=${BERTH_SLURM_CPUS:-16}
BERTH_SLURM_MEM_MB=${BERTH_SLURM_MEM_MB:-64000}
BERTH_SLURM_GPUS=${BERTH_SLURM_GPUS:-8}
BERTH_SLURM_GPU_TYPE=${BERTH_SLURM_GPU_TYPE:-}
BERTH_SLURM_PARTITION=${BERTH_SLURM_PARTITION:-gpu}
BERTH_SLURM_EXTRA_PARTITION=${BERTH_SLURM_EXTRA_PARTITION:-}
BERTH_SLURM_SLURMD_TIMEOUT=${BERTH_SLURM_SLURMD_TIMEOUT:-10}
EOF
}

load_knobs() {
  # shellcheck disable=SC1091
  . "$DIR/knobs.env"
  local k
  for k in NODES CPUS MEM_MB GPUS SLURMD_TIMEOUT; do
    local v; v=$(eval echo "\$BERTH_SLURM_$k")
    [[ $v =~ ^[0-9]+$ ]] || fail "BERTH_SLURM_$k must be a whole number, not '$v'"
  done
  [ "$BERTH_SLURM_NODES" -ge 1 ] || fail "BERTH_SLURM_NODES must be at least 1"
  [ "$BERTH_SLURM_CPUS" -ge 1 ] || fail "BERTH_SLURM_CPUS must be at least 1"
  [[ $BERTH_SLURM_GPU_TYPE =~ ^[A-Za-z0-9_.-]*$ ]] || fail "BERTH_SLURM_GPU_TYPE: letters, digits, _.- only"
}

# write_config PORT: slurm.conf, gres.conf and the fake GPU device files.
write_config() {
  local port=$1 n=$BERTH_SLURM_NODES i nodes ports gres="" files
  mkdir -p "$DIR/etc" "$DIR/dev"
  if [ "$n" -eq 1 ]; then nodes=node1 ports=$((port + 1))
  else nodes="node[1-$n]" ports="[$((port + 1))-$((port + n))]"; fi
  : > "$DIR/etc/gres.conf"
  if [ "$BERTH_SLURM_GPUS" -gt 0 ]; then
    # 22.05 drops a gpu gres without File= and then drains the node; symlinks to
    # /dev/null pass its character-device check, and the digit names the index.
    for ((i = 0; i < BERTH_SLURM_GPUS; i++)); do ln -sfn /dev/null "$DIR/dev/nvidia$i"; done
    files=$DIR/dev/nvidia0
    [ "$BERTH_SLURM_GPUS" -eq 1 ] || files="$DIR/dev/nvidia[0-$((BERTH_SLURM_GPUS - 1))]"
    gres="Gres=gpu:${BERTH_SLURM_GPU_TYPE:+$BERTH_SLURM_GPU_TYPE:}$BERTH_SLURM_GPUS"
    echo "Name=gpu${BERTH_SLURM_GPU_TYPE:+ Type=$BERTH_SLURM_GPU_TYPE} File=$files" > "$DIR/etc/gres.conf"
  fi
  local defmem=$((BERTH_SLURM_MEM_MB / BERTH_SLURM_CPUS)) extra=""
  [ "$defmem" -le 1024 ] || defmem=1024
  [ "$defmem" -ge 1 ] || defmem=1
  if [ -n "$BERTH_SLURM_EXTRA_PARTITION" ]; then
    extra="PartitionName=${BERTH_SLURM_EXTRA_PARTITION%%=*} Nodes=${BERTH_SLURM_EXTRA_PARTITION#*=} MaxTime=INFINITE State=UP"
  fi
  cat > "$CONF.new" <<EOF
# Written by berth's scripts/slurm-cluster.sh for a test cluster on one machine.
# All state is under $DIR.
ClusterName=berth
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# Our own munged. cred_expire is also how long a requeued job waits to restart
# (default 121 s); slurmctld reads it only at start.
AuthInfo=socket=$SOCK,cred_expire=30
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd-%n.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# Quiet the "different slurm.conf" complaint after the config is rewritten.
DebugFlags=NO_CONF_HASH
# The declared CPUs, memory and GPUs are not this machine's: believe the config,
# and do not confine or bind tasks to hardware that is not there.
SlurmdParameters=config_overrides
TaskPlugin=task/none
ProctrackType=proctrack/linuxproc
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
# Track memory too, with a default per CPU: otherwise a job takes a whole
# node's memory and no two jobs ever share a node.
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$defmem
SchedulerType=sched/backfill
# Heterogeneous jobs are started only by backfill; run it every second.
SchedulerParameters=bf_interval=1
# Refuse what can never run (more nodes than the partition has) at submit time
# instead of queueing it forever.
EnforcePartLimits=ALL
# A node that stopped answering returns when its slurmd registers again; one set
# DOWN by an administrator (fail-node) waits for state=resume.
ReturnToService=1
SlurmdTimeout=$BERTH_SLURM_SLURMD_TIMEOUT
SlurmctldTimeout=10
InactiveLimit=0
KillWait=2
MinJobAge=300
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.txt
MailProg=/bin/true
GresTypes=gpu
NodeName=$nodes NodeAddr=127.0.0.1 Port=$ports CPUs=$BERTH_SLURM_CPUS Sockets=1 CoresPerSocket=$BERTH_SLURM_CPUS ThreadsPerCore=1 RealMemory=$BERTH_SLURM_MEM_MB $gres State=UNKNOWN
PartitionName=$BERTH_SLURM_PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
$extra
EOF
  mv "$CONF.new" "$CONF"
}

conf_port() { sed -n 's/^SlurmctldPort=//p' "$CONF"; }

log_tail() {  # log_tail FILE: its last lines, indented, for an error message
  if [ -s "$1" ]; then echo; echo "  last lines of $1:"; tail -n 8 "$1" | sed 's/^/    /'
  else echo; echo "  ($1 is empty or missing)"; fi
}

# ------------------------------------------------------------------ daemons
munge_answers() { timeout 5 munge -S "$SOCK" -n 2>/dev/null | timeout 5 unmunge -S "$SOCK" >/dev/null 2>&1; }

start_munged() {
  if [ -n "$(daemon_pid munged)" ] && munge_answers; then return; fi
  mkdir -p -m 700 "$DIR/munge"
  [ -s "$DIR/munge/munge.key" ] || (umask 077; head -c 1024 /dev/urandom > "$DIR/munge/munge.key")
  chmod 400 "$DIR/munge/munge.key"
  rm -f "$SOCK" "$SOCK.lock"
  # munged wants its socket's directory searchable by everyone.
  env "$TAG" munged -S "$SOCK" --key-file="$DIR/munge/munge.key" --pid-file="$PIDS/munged.pid" \
    --log-file="$LOGS/munged.log" --seed-file="$DIR/munge/munged.seed" --num-threads=8 9>&- \
    || fail "munged did not start:$(log_tail "$LOGS/munged.log")"
  local i
  for ((i = 0; i < 100; i++)); do munge_answers && return; sleep 0.05; done
  fail "munged does not answer on $SOCK:$(log_tail "$LOGS/munged.log")"
}

ctld_up() { client scontrol ping 2>/dev/null | grep -q 'is UP'; }

start_slurmctld() {
  if [ -n "$(daemon_pid slurmctld)" ] && ctld_up; then return; fi
  local old; old=$(daemon_pid slurmctld)
  [ -z "$old" ] || { say "slurmctld $old does not answer; restarting it"; stop 3000 "$old"; }
  rm -f "$PIDS/slurmctld.pid"
  # slurmctld forks and exits 0 before it reads its state; it may die after.
  env "$TAG" SLURM_CONF="$CONF" slurmctld -i 9>&- \
    || fail "slurmctld did not start:$(log_tail "$LOGS/slurmctld.log")"
  local deadline=$((SECONDS + WAIT)) since=$SECONDS
  until ctld_up; do
    if [ $((SECONDS - since)) -ge 2 ] && [ -z "$(daemon_pid slurmctld)" ]; then
      fail "slurmctld exited:$(log_tail "$LOGS/slurmctld.log")"
    fi
    [ $SECONDS -lt $deadline ] || fail "slurmctld not answering after ${WAIT}s:$(log_tail "$LOGS/slurmctld.log")"
    sleep 0.1
  done
}

# start_slurmd NODE: returns 1 when it was already running.
start_slurmd() {
  local n=$1
  [ -z "$(daemon_pid "slurmd-$n")" ] || return 1
  rm -f "$PIDS/slurmd-$n.pid"
  mkdir -p "$DIR/spool/$n"
  # Its own UTS namespace, so that tasks see the node's name as the hostname.
  env "$TAG" SLURM_CONF="$CONF" unshare --uts sh -c 'hostname "$1" && exec slurmd -N "$1"' slurmd "$n" 9>&- \
    || fail "slurmd for $n did not start:$(log_tail "$LOGS/slurmd-$n.log")"
  return 0
}

# node_state NODE: its compact state ("idle", "down*"). Always from a full
# listing: 22.05's `sinfo -n NODE` takes a single-node path that can report
# allocations as they were at the last full listing ("mix*" for a node that
# was set DOWN after its job ended).
node_state() { client sinfo -h -N -o '%N %t' 2>/dev/null | awk -v n="$1" '$1 == n { print $2; exit }' || true; }

node_reason() { client scontrol show node "$1" 2>/dev/null | sed -n 's/^ *Reason=//p' || true; }

# wait_usable NODE...: until each node answers and can take jobs (idle, mix,
# alloc, completing or planned). A node that is invalid or drained fails at
# once, naming the reason and its log.
wait_usable() {
  local deadline=$((SECONDS + WAIT)) bad n st listing
  while :; do
    bad=""
    listing=$(client sinfo -h -N -o '%N %t' 2>/dev/null) || listing=""
    for n in "$@"; do
      st=$(awk -v n="$n" '$1 == n { print $2; exit }' <<< "$listing")
      case "$st" in
        idle|mix|alloc|comp|plnd) ;;
        inval*|drain*|drng*|fail*)
          fail "$n is $st: $(node_reason "$n")$(log_tail "$LOGS/slurmd-$n.log")" ;;
        *) bad="$bad $n=${st:-?}" ;;
      esac
    done
    [ -n "$bad" ] || return 0
    if [ $SECONDS -ge $deadline ]; then
      n=${bad# }; n=${n%%=*}
      fail "nodes not ready after ${WAIT}s:$bad$(log_tail "$LOGS/slurmd-$n.log")$(log_tail "$LOGS/slurmctld.log")"
    fi
    sleep 0.1
  done
}

FAIL_REASON="berth slurm-cluster.sh fail-node"

slurmd_start_time() { client scontrol show node "$1" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p' || true; }

# resume_if_failed NODE OLD_START: fail-node set the node DOWN, which holds
# until an administrator resumes it. Resume once the new slurmd has registered
# (its SlurmdStartTime differs from OLD_START, read before it started), so that
# the registration has cleared what the old one ran. Within one second the two
# times can be equal: after 3 s, resume anyway.
resume_if_failed() {
  local n=$1 old=$2 deadline=$((SECONDS + 3))
  case "$(node_reason "$n")" in "$FAIL_REASON"*) ;; *) return 0 ;; esac
  while [ "$(slurmd_start_time "$n")" = "$old" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  client scontrol update nodename="$n" state=resume || fail "scontrol could not resume $n"
}

# ------------------------------------------------------------------ commands
cmd_up() {
  local b missing=""
  for b in munged munge unmunge slurmctld slurmd srun sinfo scontrol squeue unshare flock; do
    command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
  done
  [ -z "$missing" ] || fail "missing:$missing; run scripts/install-deps.sh (packages slurmctld slurmd slurm-client munge)"
  local t0=$EPOCHREALTIME
  export SLURM_CONF=$CONF
  touch "$DIR/$MARKER"
  chmod 755 "$DIR"
  mkdir -p "$PIDS" "$LOGS" "$DIR/state" "$DIR/spool"
  chmod 755 "$PIDS"
  [ -s "$DIR/knobs.env" ] || save_knobs
  load_knobs

  # Ports are chosen and bound under one machine-wide lock (fd 9, which no
  # daemon may inherit: it would hold the lock for its whole life).
  exec 9> "${TMPDIR:-/tmp}/.berth-slurm-ports.lock"
  flock -w 120 9 || fail "waited 120s for ${TMPDIR:-/tmp}/.berth-slurm-ports.lock"
  local any_alive="" n
  for n in slurmctld $(node_names | sed 's/^/slurmd-/'); do
    [ -z "$(daemon_pid "$n")" ] || any_alive=1
  done
  if [ ! -s "$CONF" ]; then
    write_config "$(choose_port)"
  elif [ -z "$any_alive" ] && ! range_free "$(conf_port)" $((BERTH_SLURM_NODES + 1)); then
    # Our daemons are all down and someone else took a port meanwhile.
    write_config "$(choose_port)"
  fi

  start_munged
  start_slurmctld
  local started=""
  local -A before=()
  for n in $(node_names); do
    [ -z "$(daemon_pid "slurmd-$n")" ] || continue
    before[$n]=$(slurmd_start_time "$n")
    start_slurmd "$n" && started="$started $n"
  done
  for n in $started; do resume_if_failed "$n" "${before[$n]}"; done
  wait_usable $(node_names)
  flock -u 9; exec 9>&-

  local t1=$EPOCHREALTIME
  say "up in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s: $BERTH_SLURM_NODES nodes x $BERTH_SLURM_CPUS CPUs x $BERTH_SLURM_GPUS GPUs, port $(conf_port)${started:+, started slurmd on$started}; logs in $LOGS"
  echo "export SLURM_CONF=$CONF"
}

cmd_down() {
  local t0=$EPOCHREALTIME me n p clients tasks="" steps="" strays
  me=$(ancestors)
  not_me() { grep -v '^$' | grep -vxF -f <(echo "$me"; printf '%s\n' "$@") || true; }
  [ -s "$DIR/knobs.env" ] && load_knobs || BERTH_SLURM_NODES=0

  # 1. Client commands of this cluster (srun, salloc, sbatch, ...): an srun
  #    whose cluster is gone never ends on its own.
  clients=$(for p in $(pids_with_env "SLURM_CONF=$CONF"); do
              case "$(comm_of "$p")" in srun|salloc|sbatch|sattach|scontrol|squeue|sinfo|scancel|sbcast) echo "$p" ;; esac
            done | not_me)
  # srun ignores SIGTERM while its step cannot be reached, hence the short grace.
  [ -z "$clients" ] || { say "stopping client commands: $(echo $clients)"; stop 300 $clients; }

  # 2. Job steps and their tasks, on every node.
  for f in "$LOGS"/slurmd-*.log; do
    [ -e "$f" ] || continue
    n=${f##*/slurmd-}; n=${n%.log}
    steps="$steps $(stepds "$n")"
  done
  steps=$(echo $steps)
  if [ -n "$steps" ]; then
    tasks=$(tasks_of $steps | not_me)
    say "stopping slurmstepd: $steps${tasks:+; tasks: $(echo $tasks)}"
    # The tasks first, with a grace; slurmstepd itself ignores SIGTERM.
    [ -z "$tasks" ] || stop 1000 $tasks
    stop 0 $steps
  fi

  # 3. The daemons, by their pid files.
  local slurmds=""
  for f in "$PIDS"/slurmd-*.pid; do
    [ -e "$f" ] || continue
    n=${f##*/}; slurmds="$slurmds $(daemon_pid "${n%.pid}")"
  done
  slurmds=$(echo $slurmds)
  [ -z "$slurmds" ] || { say "stopping slurmd: $slurmds"; stop "$GRACE_MS" $slurmds; }
  p=$(daemon_pid slurmctld)
  [ -z "$p" ] || { say "stopping slurmctld: $p"; stop "$GRACE_MS" "$p"; }

  # 4. Anything else started by us (slurmctld's slurmscriptd) or run as one of
  #    this cluster's tasks (SLURMD_NODENAME is set by slurmstepd only), then
  #    munged last: the others need it to the end.
  local munged; munged=$(daemon_pid munged)
  strays=$({ pids_with_env "$TAG"
             pids_with_env "SLURM_CONF=$CONF" |
               grep -xF -f <(grep -lsz '^SLURMD_NODENAME=' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3) || true
           } | sort -un | not_me "$munged")
  [ -z "$strays" ] || { say "stopping leftovers: $(echo $strays)"; stop 1000 $strays; }
  [ -z "$munged" ] || { say "stopping munged: $munged"; stop "$GRACE_MS" "$munged"; }

  rm -f "$PIDS"/*.pid "$SOCK" "$SOCK.lock"
  local left; left=$({ pids_with_env "$TAG"; } | not_me)
  [ -z "$left" ] || fail "processes of $DIR still alive after down: $(echo $left)"
  rm -rf "$DIR"
  say "down in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')s; removed $DIR"
}

check_node() {
  load_knobs
  node_names | grep -qxF -- "$NODE" || fail "no node $NODE in $DIR (nodes: $(node_names | tr '\n' ' '))"
}

cmd_kill_node() {
  check_node
  local victims; victims=$(node_procs "$NODE" | grep -vxF -f <(ancestors) || true)
  if [ -z "$victims" ]; then say "$NODE: nothing running"; else
    say "SIGKILL $NODE: $(echo $victims)"
    stop 0 $victims
  fi
  rm -f "$PIDS/slurmd-$NODE.pid"
}

cmd_fail_node() {
  # DOWN first, then the crash: once the node is DOWN its jobs have ended
  # NODE_FAIL, whatever the killed processes report afterwards (killed the
  # other way round, a batch script's death could be reported first, and the
  # job end FAILED under load).
  check_node
  export SLURM_CONF=$CONF
  client scontrol update nodename="$NODE" state=down reason="$FAIL_REASON" \
    || fail "scontrol could not set $NODE down"
  cmd_kill_node
  # Returns once Slurm shows the node down (its jobs end NODE_FAIL, or are
  # requeued, at the same time).
  local deadline=$((SECONDS + 10)) st=""
  while :; do
    st=$(node_state "$NODE")
    case "$st" in down*) break ;; esac
    [ $SECONDS -lt $deadline ] || { say "warning: $NODE still shows '$st' 10s after it was set down"; break; }
    sleep 0.1
  done
  say "$NODE is DOWN"
}

cmd_start_node() {
  check_node
  export SLURM_CONF=$CONF
  local before; before=$(slurmd_start_time "$NODE")
  start_slurmd "$NODE" || { say "slurmd of $NODE is already running"; before=""; }
  resume_if_failed "$NODE" "$before"
  wait_usable "$NODE"
  say "$NODE is up"
}

cmd_nodes_procs() {
  load_knobs
  local n s p
  for n in $(node_names); do
    s=$(stepds "$n")
    for p in $s; do echo "$n slurmstepd $p $(args_of "$p")"; done
    for p in $(node_tasks "$n" $s); do alive "$p" && echo "$n task $p $(args_of "$p")"; done
  done
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  fail-node) cmd_fail_node ;;
  kill-node) cmd_kill_node ;;
  start-node) cmd_start_node ;;
  nodes-procs) cmd_nodes_procs ;;
esac
