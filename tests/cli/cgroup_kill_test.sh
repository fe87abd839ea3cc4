#!/bin/sh
# Integration: berth and its supervisor SIGKILLed at the same moment (one
# `kill -9` of both). Nothing is left alive to stop the workers' detached
# children (setsid, double fork), but they are all in the run's cgroup v2,
# and the next `berth down RUN_DIR` (1) or `berth run` on the directory (2)
# kills that cgroup and says so. Also: BERTH_CGROUP=off says at start that
# the protection is missing (3), and a state.json naming a cgroup berth did
# not make is left alone (4). Skipped (77) where this machine does not let
# berth write cgroup v2, with berth's reason.
# Usage: cgroup_kill_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-cgroup-test
. "$(dirname "$0")/run_test_lib.sh"

FOREIGN=""
FOREIGN_PID=""
cg_cleanup() {
  [ -n "$FOREIGN_PID" ] && kill -9 "$FOREIGN_PID" 2>/dev/null && wait "$FOREIGN_PID" 2>/dev/null
  [ -n "$FOREIGN" ] && rmdir "$FOREIGN" 2>/dev/null
  cleanup
}
trap cg_cleanup EXIT

cat > "$T/exp.yaml" <<YAML
name: cgkill
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 0.5, cmd: [/bin/sh, -c, "setsid sleep 300 & (sleep 300 &) ; sleep 300"]}
    readiness: none
YAML

# Processes whose environment holds the marker $1 (other than this shell).
marked_with() { grep -l "$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | while read -r p; do [ "$p" != "$$" ] && echo "$p"; done; }
count_with() { marked_with "$1" | wc -l; }
wait_count() {  # marker count tenths: until exactly `count` processes carry it
  i=0
  while [ "$(count_with "$1")" -ne "$2" ] && [ $i -lt "$3" ]; do sleep 0.1; i=$((i + 1)); done
  [ "$(count_with "$1")" -eq "$2" ]
}
json() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1/state.json" "$2"; }

# Starts a run with marker $2 in dir $1; sets BPID, CG, SUP (its supervisor:
# the process in the cgroup whose parent is berth).
start_run() {
  BERTH_TEST_MARK="$2" "$BERTH" run "$T/exp.yaml" --run-dir "$1" > "$1.out" 2> "$1.err" &
  BJOB=$!
  # Running, and this berth's (the directory may hold a killed run's state).
  i=0
  while ! { wait_phase "$1" running 1 && [ "$(json "$1" berth_pid)" = "$BJOB" ]; } && [ $i -lt 150 ]; do i=$((i + 1)); done
  [ "$(json "$1" berth_pid)" = "$BJOB" ] && wait_phase "$1" running 1 || { fail "run $1 never running: $(cat "$1.err")"; exit 1; }
  BPID=$BJOB
  CG=$(json "$1" cgroup)
  if [ -z "$CG" ]; then
    reason=$(grep "without a cgroup" "$1.err")
    echo "SKIP: cgroup v2 is not writable here: ${reason:-state.json names no cgroup}"
    exit 77
  fi
  SUP=""
  for p in $(cat "$CG/cgroup.procs"); do
    [ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" = "$BPID" ] && SUP=$p
  done
  [ -n "$SUP" ] && ok "run $1: berth $BPID, supervisor $SUP in $CG" || fail "no supervisor of berth $BPID in $CG"
  # berth, the supervisor, and per worker its sh, its sleep, the setsid'd
  # sleep and the double-forked one.
  wait_count "$2" 10 100 || fail "run $1: $(count_with "$2") marked processes, not 10"
}

# The fault: both at once. The workers die with their supervisor
# (PDEATHSIG); their 6 children outlive both, orphans nothing will stop.
kill_both() {
  kill -9 "$BPID" "$SUP"
  wait "$BJOB" 2>/dev/null
  if wait_count "$1" 6 50; then ok "SIGKILL of berth and supervisor left 6 orphans (the fault)"
  else fail "after SIGKILL of both: $(count_with "$1") marked processes, not 6"; fi
  grep -q "populated 1" "$CG/cgroup.events" && ok "the orphans are in $CG" || fail "$CG is empty"
}

# 1. berth down kills the cgroup and reports it.
start_run "$T/one" "$MARK-one"
kill_both "$MARK-one"
BERTH_TEST_MARK="$MARK-down" "$BERTH" down "$T/one" > "$T/down1.out" 2>&1 && ok "down returned 0" || fail "down: $(cat "$T/down1.out")"
grep -q "killed 6 process(es) left in cgroup $CG by berth pid $BPID" "$T/down1.out" \
  && ok "down reported the kill" || fail "down said: $(cat "$T/down1.out")"
if wait_count "$MARK-one" 0 50; then ok "down: no process of the run left"; else fail "down left: $(marked_with "$MARK-one")"; fi
[ ! -d "$CG" ] && ok "down removed $CG" || fail "$CG still there"

# 2. The next berth run on the directory does it before it starts.
start_run "$T/two" "$MARK-two"
OLD_CG=$CG
OLD_BPID=$BPID
kill_both "$MARK-two"
start_run "$T/two" "$MARK-two-again"
grep -q "killed 6 process(es) left in cgroup $OLD_CG by berth pid $OLD_BPID" "$T/two.out" \
  && ok "the next run reported the kill" || fail "the next run said: $(cat "$T/two.out" "$T/two.err")"
[ "$(count_with "$MARK-two")" -eq 10 ] && ok "the next run: only its own 10 processes" \
  || fail "the next run: the old run left $(count_with "$MARK-two") - 10: $(marked_with "$MARK-two")"
[ ! -d "$OLD_CG" ] && [ "$CG" != "$OLD_CG" ] && ok "old cgroup removed, the new run has $CG" || fail "cgroups: old $OLD_CG, new $CG"
"$BERTH" down "$T/two" > "$T/down2.out" 2>&1 || fail "down of the second run: $(cat "$T/down2.out")"
wait "$BJOB" 2>/dev/null
grep -q "killed" "$T/down2.out" && fail "a normal down killed leftovers: $(cat "$T/down2.out")"
if wait_count "$MARK-two" 0 50; then ok "normal end: nothing left"; else fail "normal end left: $(marked_with "$MARK-two")"; fi
[ ! -d "$CG" ] && ok "normal end removed $CG" || fail "normal end left $CG"

# 3. Without the cgroup, berth says at start what is missing.
BERTH_CGROUP=off BERTH_TEST_MARK="$MARK-off" "$BERTH" run "$T/exp.yaml" --run-dir "$T/off" > "$T/off.out" 2> "$T/off.err" &
BJOB=$!
wait_phase "$T/off" running 150 || fail "off run: $(cat "$T/off.err")"
grep -q "^berth: workers run without a cgroup (BERTH_CGROUP=off): if berth and its supervisor are both killed with SIGKILL" "$T/off.err" \
  && ok "BERTH_CGROUP=off said so at start" || fail "BERTH_CGROUP=off: $(cat "$T/off.err")"
grep -q '"cgroup"' "$T/off/state.json" && fail "BERTH_CGROUP=off: state.json names a cgroup" || ok "BERTH_CGROUP=off: no cgroup in state.json"
"$BERTH" down "$T/off" > /dev/null 2>&1
wait "$BJOB" 2>/dev/null
wait_count "$MARK-off" 0 50 || fail "off run left: $(marked_with "$MARK-off")"

# 4. A state.json edited to name a cgroup berth did not make: left alone.
FOREIGN="$(dirname "$OLD_CG")/notberth-$$"
mkdir "$FOREIGN" || fail "mkdir $FOREIGN"
sleep 300 &
FOREIGN_PID=$!
echo "$FOREIGN_PID" > "$FOREIGN/cgroup.procs"
$PY - "$T/one/state.json" "$FOREIGN" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1])); s["cgroup"] = sys.argv[2]
json.dump(s, open(sys.argv[1], "w"))
PYEOF
"$BERTH" down "$T/one" > "$T/down4.out" 2>&1 && fail "down on a foreign cgroup returned 0"
grep -q "left alone.*not named as berth names" "$T/down4.out" && ok "a foreign cgroup is left alone" || fail "foreign: $(cat "$T/down4.out")"
kill -0 "$FOREIGN_PID" && ok "its process lives" || fail "down killed a foreign cgroup's process"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
