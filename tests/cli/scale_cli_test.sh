#!/bin/sh
# Integration test of `berth scale` with real processes (docs/control-api.md):
# a separate role with a fork on it scaled 2 -> 4 -> 1 -> 3, each instance on
# GPUs of its own, the forks following, the highest instances stopped first
# (forks before them), the others never restarted; beyond capacity explained
# (exit 3, nothing started); bad input (exit 2); events.jsonl; nothing left
# after berth down.
# Usage: scale_cli_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-scale-test
. "$(dirname "$0")/run_test_lib.sh"

cat > "$T/exp.yaml" <<YAML
name: scaling
cluster: {gpus: 8, cpu: 16, mem: 4}
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 2, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: rollout, fork: true}
    scheduling_spec: {cpu: 0, gpu: 0, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
YAML
berth run "$T/exp.yaml" --run-dir "$T/r" > "$T/r.out" 2> "$T/r.err" &
if ! wait_phase "$T/r" running 300; then
  fail "did not come up: $(cat "$T/r.out" "$T/r.err")"
  exit 1
fi
pid_of() { $PY -c "import json,sys; print([w['pid'] for w in json.load(open(sys.argv[1]))['workers'] if w['id']==sys.argv[2]][0])" "$T/r/state.json" "$1"; }
# workers: "id@gpus state" of every record, sorted.
workers() { $PY -c "
import json, sys
s = json.load(open(sys.argv[1]))
print(' '.join(sorted(w['id'] + '@' + w['gpus'] + ':' + w['state'] for w in s['workers'])))" "$T/r/state.json"; }
pid0=$(pid_of rollout/0)
ref0=$(pid_of ref/0)

berth scale "$T/r" rollout 4 > "$T/s4.out" 2>&1; code=$?
want="ref/0@0,1:ready ref/1@2,3:ready ref/2@4,5:ready ref/3@6,7:ready rollout/0@0,1:ready rollout/1@2,3:ready rollout/2@4,5:ready rollout/3@6,7:ready"
[ $code = 0 ] && [ "$(workers)" = "$want" ] && grep -q "rollout: 4 instance(s): rollout/0 rollout/1 rollout/2 rollout/3" "$T/s4.out" \
  && ok "2 -> 4: two instances and their forks on GPUs of their own" || fail "2 -> 4: rc=$code $(cat "$T/s4.out") $(workers)"

gone_pids="$(pid_of ref/1) $(pid_of ref/2) $(pid_of ref/3) $(pid_of rollout/1) $(pid_of rollout/2) $(pid_of rollout/3)"
berth scale "$T/r" rollout 1 > "$T/s1.out" 2>&1; code=$?
# The scale returns once its workers have exited: none of them may be left.
alive=""
for p in $gone_pids; do [ -d "/proc/$p" ] && alive="$alive $p"; done
[ -z "$alive" ] && ok "4 -> 1: the six workers had exited when scale returned" \
  || fail "4 -> 1: still running after scale returned: $alive"
# Their last words are in the merged log by then; allow for a slow disk.
i=0
while [ "$(grep -c ': stopped$' "$T/r/merged.log")" -lt 6 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ $code = 0 ] && [ "$(workers)" = "ref/0@0,1:ready rollout/0@0,1:ready" ] \
  && ok "4 -> 1: the highest three gone, forks and all" || fail "4 -> 1: rc=$code $(cat "$T/s1.out") $(workers)"
# Forks first: each demo worker says "stopped" as it exits on SIGTERM.
$PY - "$T/r/merged.log" <<'PY' && ok "forks stopped before their instances" || fail "stop order: $(grep stopped "$T/r/merged.log")"
import re, sys
seen = {}
for n, line in enumerate(open(sys.argv[1])):
    m = re.match(r"\[((?:ref|rollout)/[123])\] berth-demo-worker \S+: stopped", line)
    if m:
        seen.setdefault(m.group(1), n)
for i in "123":
    assert seen["ref/" + i] < seen["rollout/" + i], seen
PY
if [ "$(grep -c ': stopped$' "$T/r/merged.log")" -lt 6 ]; then
  for w in ref/1 ref/2 ref/3 rollout/1 rollout/2 rollout/3; do
    echo "  $w log: $(tail -c 300 "$T/r/logs/$(echo "$w" | tr / .).log" 2>/dev/null | tr '\n' '|')"
  done
  echo "  events: $(grep -E '"(ref|rollout)/[123]"' "$T/r/events.jsonl" | tail -n 12)"
fi

berth scale "$T/r" rollout 3 > "$T/s3.out" 2>&1; code=$?
[ $code = 0 ] && [ "$(workers)" = "ref/0@0,1:ready ref/1@2,3:ready ref/2@4,5:ready rollout/0@0,1:ready rollout/1@2,3:ready rollout/2@4,5:ready" ] \
  && ok "1 -> 3: on the freed GPUs" || fail "1 -> 3: rc=$code $(cat "$T/s3.out") $(workers)"
[ "$(pid_of rollout/0)" = "$pid0" ] && [ "$(pid_of ref/0)" = "$ref0" ] \
  && ok "rollout/0 and ref/0 never restarted" || fail "rollout/0 restarted: $(pid_of rollout/0) vs $pid0"

before=$(workers)
berth scale "$T/r" rollout 6 > "$T/s6.out" 2>&1; code=$?
[ $code = 3 ] && grep -q 'group "rollout/4" is not placed' "$T/s6.out" && [ "$(workers)" = "$before" ] \
  && ok "3 -> 6 does not fit: exit 3, explained, nothing started" || fail "3 -> 6: rc=$code $(cat "$T/s6.out") $(workers)"

berth scale "$T/r" ref 4 > "$T/bad1.out" 2>&1; c1=$?
berth scale "$T/r" nobody 2 > "$T/bad2.out" 2>&1; c2=$?
berth scale "$T/r" rollout 0 > "$T/bad3.out" 2>&1; c3=$?
[ $c1 = 2 ] && grep -q 'scale "rollout"' "$T/bad1.out" && [ $c2 = 2 ] && grep -q "no role" "$T/bad2.out" && [ $c3 = 2 ] \
  && ok "a fork, an unknown role, 0 replicas: exit 2, saying why" \
  || fail "bad input: $c1 $(cat "$T/bad1.out") / $c2 $(cat "$T/bad2.out") / $c3 $(cat "$T/bad3.out")"
berth scale "$T/r" rollout 3 > /dev/null 2>&1 && ok "the same size: nothing to do" || fail "same size"

kinds=$($PY -c '
import json, sys
print(" ".join("%s:%s" % (e["role"], e["replicas"]) for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "scaled"))' "$T/r/events.jsonl")
[ "$kinds" = "rollout:4 rollout:1 rollout:3 rollout:3" ] && ok "events.jsonl: $kinds" || fail "events: $kinds"

berth down "$T/r" > /dev/null 2>&1 && ok "berth down" || fail "berth down"
if wait_unmarked 100; then ok "nothing left"; else fail "left: $(marked)"; fi
[ $fails -eq 0 ] && echo "all scale tests passed" || { echo "$fails failure(s)"; exit 1; }
