#!/bin/sh
# Soak of the fault of issue 12 on the local runtime, TRIALS times: a
# `berth run` of 4 workers that each leave 3 children behind (one setsid'd,
# one double-forked, one plain), berth and its supervisor SIGKILLed by one
# `kill -9`, then `berth down RUN_DIR`. Counts the run's processes still
# alive once down returned (after up to 1 s for them to go): target 0.
#   cgroup  berth as it is: the run's cgroup v2, killed by `berth down`
#   off     BERTH_CGROUP=off: the same trial without the cgroup (12 per trial
#           expected: nothing is left alive to stop them)
# Usage: bench/soak_sigkill_local.sh [TRIALS] [cgroup|off]
#   (after ./scripts/build.sh; BUILD=DIR to use another build directory)
# Prints one line per trial, then the totals. Leftovers are killed after
# they are counted, so that trials do not pile up.
set -eu
N=${1:-100}
MODE=${2:-cgroup}
case "$MODE" in cgroup|off) ;; *) echo "usage: $0 [TRIALS] [cgroup|off]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
B=${BUILD:-build}
BERTH=$(readlink -f "$B/berth")
T=$(mktemp -d /tmp/berth-soak-sigkill.XXXXXX)
MARK="berth-soak-$$"
marked() { grep -l "$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | while read -r p; do [ "$p" != "$$" ] && echo "$p"; done; }
count() { marked "$1" | wc -l; }
killall_marked() { for p in $(marked "$MARK"); do kill -9 "$p" 2>/dev/null || true; done; }
trap 'killall_marked; rm -rf "$T"' EXIT
cat > "$T/exp.yaml" <<YAML
name: soak
cluster: {gpus: 0, cpu: 4, mem: 1}
roles:
  - name: w
    replicas: 4
    placement: separate
    scheduling_spec: {cpu: 0.5, cmd: [/bin/sh, -c, "setsid sleep 300 & (sleep 300 &) ; sleep 300"]}
    readiness: none
YAML
if [ "$MODE" = off ]; then export BERTH_CGROUP=off; else unset BERTH_CGROUP; fi
# berth, its supervisor, and per worker its sh and 3 sleeps.
WANT=18
total=0
worst=0
killed_total=0
for t in $(seq 1 "$N"); do
  m="$MARK-$t-"
  rm -rf "$T/run"
  BERTH_TEST_MARK="$m" "$BERTH" run "$T/exp.yaml" --run-dir "$T/run" > "$T/out" 2>&1 &
  job=$!
  i=0
  while [ "$(count "$m")" -lt $WANT ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  if [ "$(count "$m")" -lt $WANT ]; then echo "trial $t: the run did not come up: $(cat "$T/out")" >&2; exit 1; fi
  bpid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["berth_pid"])' "$T/run/state.json")
  sup=""  # berth's one child
  for f in /proc/[0-9]*/stat; do
    read -r pid _ _ ppid _ 2>/dev/null < "$f" && [ "$ppid" = "$bpid" ] && sup=$pid
  done
  [ -n "$sup" ] || { echo "trial $t: no supervisor of berth $bpid" >&2; exit 1; }
  kill -9 "$bpid" "$sup"
  wait "$job" 2>/dev/null || true
  down=$("$BERTH" down "$T/run" 2>&1) || echo "trial $t: berth down failed: $down" >&2
  i=0
  while [ "$(count "$m")" -gt 0 ] && [ $i -lt 20 ]; do sleep 0.05; i=$((i + 1)); done
  left=$(count "$m")
  killed=$(echo "$down" | sed -n 's/^killed \([0-9]*\) process(es) left in cgroup.*/\1/p')
  echo "trial $t: $left orphan(s) left; berth down killed ${killed:-0} in the run's cgroup"
  total=$((total + left))
  killed_total=$((killed_total + ${killed:-0}))
  [ "$left" -gt "$worst" ] && worst=$left
  killall_marked
done
echo "mode $MODE: $N trials, $total orphan(s) in all (target 0), at most $worst in a trial; berth down killed $killed_total in cgroups"
