# shellcheck shell=bash
# Sourced by scripts/slurm-cluster.sh: finding and stopping the cluster's
# processes through /proc directly (nothing is ever signalled by name).
# Needs the caller's say().

# proc_stat PID: sets P_STATE, P_PPID, P_SID, P_START (clock ticks since boot)
# and returns 0, or returns 1 when PID is gone. The command name in field 2
# may contain anything, so fields are counted after its last ')'.
proc_stat() {
  local line rest f
  { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${line##*) }
  read -r -a f <<< "$rest"
  P_STATE=${f[0]} P_PPID=${f[1]} P_SID=${f[3]} P_START=${f[19]}
}

# alive PID: the process exists and is neither a zombie nor dead. (PID 1 here
# may reap orphans late; `kill -0` succeeds on a zombie.)
alive() {
  proc_stat "$1" || return 1
  [ "$P_STATE" != Z ] && [ "$P_STATE" != X ]
}

comm_of() { local c; { read -r c < "/proc/$1/comm"; } 2>/dev/null && printf '%s' "$c"; }
args_of() { tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" | sed 's/ *$//' || true; }

# pids_with_env VAR=VALUE: processes whose environment holds exactly that entry.
pids_with_env() {
  grep -lsxzF -- "$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | sort -un || true
}

# pids_holding FILE: processes that have FILE open.
pids_holding() {
  find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null | cut -d/ -f3 | sort -un || true
}

# This script and the processes that started it, never to be signalled.
ancestors() {
  local p=$$
  while [ -n "$p" ] && [ "$p" != 0 ]; do
    echo "$p"
    proc_stat "$p" || break
    p=$P_PPID
  done
}

# descendants ROOT...: every live process below the roots (not the roots),
# from one pass over /proc.
descendants() {
  local -A kids=()
  local f p queue=("$@") out=()
  for f in /proc/[0-9]*/stat; do
    p=${f#/proc/}; p=${p%/stat}
    proc_stat "$p" || continue
    kids[$P_PPID]+=" $p"
  done
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for f in ${kids[$p]:-}; do out+=("$f"); queue+=("$f"); done
  done
  [ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
}

# session_members SID...: live processes in those sessions.
session_members() {
  local f p s
  for f in /proc/[0-9]*/stat; do
    p=${f#/proc/}; p=${p%/stat}
    proc_stat "$p" || continue
    for s in "$@"; do [ "$P_SID" = "$s" ] && { echo "$p"; break; }; done
  done
}

# stop GRACE_MS PID...: SIGTERM, wait up to GRACE_MS milliseconds, SIGKILL what
# is left (at once when GRACE_MS is 0), then wait (bounded) until every one is
# gone or a zombie. Each PID is remembered with its start time, so that a PID
# reused meanwhile is never signalled.
stop() {
  local grace_ms=$1; shift
  local -A start=()
  local p i left
  for p in "$@"; do alive "$p" && start[$p]=$P_START; done
  [ ${#start[@]} -gt 0 ] || return 0
  same() { alive "$1" && [ "$P_START" = "${start[$1]}" ]; }
  if [ "$grace_ms" -gt 0 ]; then
    for p in "${!start[@]}"; do same "$p" && kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < grace_ms / 20; i++)); do
      left=0; for p in "${!start[@]}"; do same "$p" && { left=1; break; }; done
      [ $left = 1 ] || return 0
      sleep 0.02
    done
  fi
  for p in "${!start[@]}"; do same "$p" && kill -KILL "$p" 2>/dev/null || true; done
  for ((i = 0; i < 250; i++)); do
    left=""; for p in "${!start[@]}"; do same "$p" && left="$left $p"; done
    [ -n "$left" ] || return 0
    sleep 0.02
  done
  say "warning: still alive 5s after SIGKILL:$left"
}
