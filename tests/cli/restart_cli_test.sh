#!/bin/sh
# Integration tests of on_failure with real processes (docs/experiment.md):
# a crashing rollout instance restarted alone on its device with new ports
# until its budget is used up, the other instance untouched throughout; a
# dropped instance while min_replicas remain; events.jsonl; nothing left.
# Usage: restart_cli_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-restart-test
. "$(dirname "$0")/run_test_lib.sh"

# 1. restart: rollout/1 exits with code 3 half a second after each start.
cat > "$T/restart.yaml" <<YAML
name: restarts
cluster: {gpus: 2, cpu: 4, mem: 1}
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec:
      - {gpu: 1, ports: [http], cmd: [$WORKER]}
      - {gpu: 1, ports: [http], cmd: [$WORKER, --exit-after, "0.5", --exit-code, "3"]}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 2, window_s: 600, backoff_s: [0.1, 0.2]}
YAML
berth run "$T/restart.yaml" --run-dir "$T/restart" > "$T/restart.out" 2> "$T/restart.err"
code=$?
[ "$code" = 3 ] && ok "restarts used up: berth exits with the worker's code" \
  || fail "exit code $code: $(tail -5 "$T/restart.err")"
grep -q "its unit rollout/1 restarted 2 time(s) within 600 s (restart.max_restarts 2): giving up" "$T/restart.err" \
  && ok "the message names the budget" || fail "message: $(tail -5 "$T/restart.err")"
kinds=$($PY -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(e["kind"], e["worker"], e["restarts"])' "$T/restart/events.jsonl" | tr '\n' ';')
want="failed rollout/1 0;restart_in rollout/1 1;restarted rollout/1 1;failed rollout/1 1;restart_in rollout/1 2;restarted rollout/1 2;failed rollout/1 2;given_up rollout/1 2;"
[ "$kinds" = "$want" ] && ok "events.jsonl: $kinds" || fail "events.jsonl: $kinds (want $want)"
berth events "$T/restart" > "$T/events.out" 2>&1
grep -q "restart_in .*rollout/1 .*worker rollout/1 exited with code 3  \[restart 1, in 0.1 s\]" "$T/events.out" \
  && grep -q "given_up .*rollout/1" "$T/events.out" && ok "berth events shows them" || fail "berth events: $(cat "$T/events.out")"
berth events --json "$T/restart" | cmp -s - "$T/restart/events.jsonl" && ok "berth events --json: the lines as written" \
  || fail "berth events --json differs"
# rollout/0 ran throughout: one launch, one pid, stopped only at the end.
launches=$(grep -c "^\[rollout/0\] .*serving" "$T/restart/merged.log")
[ "$launches" = 1 ] && ok "rollout/0 started once" || fail "rollout/0 started $launches times"
$PY - "$T/restart/state.json" <<'PYEOF' && ok "state.json: rollout/1 restarted twice on GPU 1, rollout/0 never" || fail "state.json restarts"
import json, sys
s = {w["id"]: w for w in json.load(open(sys.argv[1]))["workers"]}
assert s["rollout/1"]["restarts"] == 2, s["rollout/1"]
assert s["rollout/1"]["gpus"] == "1", s["rollout/1"]
assert s["rollout/0"]["restarts"] == 0, s["rollout/0"]
PYEOF
if wait_unmarked 50; then ok "restart: no process left"; else fail "restart left processes: $(marked)"; fi

# 2. drop: rollout/1 exits; the run goes on with rollout/0 (min_replicas 1)
#    until berth down.
sed -e 's/on_failure: restart/on_failure: drop\n    min_replicas: 1/' -e '/restart: {/d' \
  -e 's/name: restarts/name: drops/' "$T/restart.yaml" > "$T/drop.yaml"
berth run "$T/drop.yaml" --run-dir "$T/drop" > "$T/drop.out" 2> "$T/drop.err" &
wait_phase "$T/drop" running 150 || fail "drop run never running: $(cat "$T/drop.err")"
# Follows until berth exits (below), then stops by itself.
timeout 60 "$BERTH" events --follow "$T/drop" > "$T/follow.out" 2>&1 &
follow=$!
i=0
while ! grep -q '"kind":"dropped"' "$T/drop/events.jsonl" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
grep -q '"kind":"dropped","role":"rollout","worker":"rollout/1"' "$T/drop/events.jsonl" 2>/dev/null \
  && ok "rollout/1 dropped" || fail "no drop: $(cat "$T/drop.err")"
$PY - "$T/drop" <<'PYEOF' && ok "GET /v1/events: the drop, then a bounded wait for more" || fail "GET /v1/events"
import json, sys, time, urllib.request
d = sys.argv[1]
url = json.load(open(d + "/control.json"))["url"]
token = open(d + "/control.token").read().strip()
def get(q):
    r = urllib.request.Request(url + "/v1/events" + q, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(r, timeout=10))
page = get("")
kinds = [e["kind"] for e in page["events"]]
assert kinds == ["failed", "dropped"], kinds
assert [e["seq"] for e in page["events"]] == [1, 2] and page["next"] == 2, page
start = time.monotonic()
more = get("?after=%d&timeout=0.3" % page["next"])
waited = time.monotonic() - start
assert more["events"] == [] and more["next"] == 2, more
assert 0.25 <= waited < 5, waited
PYEOF
berth status "$T/drop" > "$T/drop-status.out" 2>&1
# A run without failures has nothing to show, and says so.
berth events "$T/gang-none" > /dev/null 2>&1; [ $? = 2 ] && ok "events of a folder that is no run: exit 2" || fail "events of no run"
grep -q "rollout/0.*ready" "$T/drop-status.out" && ok "rollout/0 still ready" || fail "status: $(cat "$T/drop-status.out")"
grep -q "rollout: degraded (1 of 2 ready)" "$T/drop-status.out" && ok "status: the role is degraded" \
  || fail "role health: $(cat "$T/drop-status.out")"
berth down "$T/drop" > "$T/drop-down.out" 2>&1 && ok "down after a drop" || fail "down: $(cat "$T/drop-down.out")"
wait "$follow"
rc=$?
[ $rc = 0 ] && grep -q "dropped .*rollout/1" "$T/follow.out" && ok "events --follow saw the drop and ended with berth" \
  || fail "events --follow: rc $rc: $(cat "$T/follow.out")"
wait
if wait_unmarked 50; then ok "drop: no process left"; else fail "drop left processes: $(marked)"; fi

# 3. A training gang: rank 1 fails, both ranks restart together (new master
#    port, the same ranks and GPUs) with the fork on rank 0's GPU; restarts
#    used up after one, the run ends naming the budget.
cat > "$T/gang.yaml" <<YAML
name: gang
cluster: {gpus: 2, cpu: 4, mem: 1}
roles:
  - name: train
    replicas: 2
    scheduling_spec:
      - {gpu: 1, ports: [http], cmd: [$WORKER]}
      - {gpu: 1, ports: [http], cmd: [$WORKER, --exit-after, "0.5", --exit-code, "4"]}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: 1, backoff_s: [0.1, 0.1]}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: train}
    scheduling_spec: {cpu: 0, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
YAML
berth run "$T/gang.yaml" --run-dir "$T/gang" > "$T/gang.out" 2> "$T/gang.err"
code=$?
[ "$code" = 4 ] && grep -q "its unit train restarted 1 time(s)" "$T/gang.err" \
  && ok "gang: restarted once, then given up with the worker's code" || fail "gang: exit $code: $(tail -3 "$T/gang.err")"
$PY - "$T/gang/state.json" "$T/gang/merged.log" <<'PYEOF' && ok "gang: every rank and fork restarted together" || fail "gang restarts"
import json, re, sys
s = {w["id"]: w for w in json.load(open(sys.argv[1]))["workers"]}
for wid in ("train/0", "train/1", "ref/0", "ref/1"):
    assert s[wid]["restarts"] == 1, (wid, s[wid])
assert s["train/0"]["gpus"] == "0" and s["ref/0"]["gpus"] == "0", s
log = open(sys.argv[2]).read()
# Each launch of rank 0 printed its ports; the rendezvous port changed.
masters = re.findall(r"^\[train/0(?:@2)?\] .* MASTER=(\d+)", log, re.M)
assert len(masters) == 2 and masters[0] != masters[1], masters
PYEOF
if wait_unmarked 50; then ok "gang: no process left"; else fail "gang left processes: $(marked)"; fi

[ $fails = 0 ] && echo "all restart tests passed" || { echo "$fails failure(s)"; exit 1; }
