#!/bin/sh
# Integration tests of `berth run`, `berth status` and `berth down` with real
# processes: readiness, env, a crash at start-up, a crash later, teardown
# order, rollback of a partial start, and SIGKILL of berth with grandchildren
# that left their session. Usage: run_cli_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-run-test
. "$(dirname "$0")/run_test_lib.sh"

# 1. The demo: all ready, status from another "terminal", env as planned,
#    down, teardown order, nothing left.
sed "s#build/berth-demo-worker#$WORKER#" examples/demo.yaml > "$T/demo.yaml"
berth run "$T/demo.yaml" --run-dir "$T/demo" > "$T/demo.out" 2> "$T/demo.err" &
if wait_phase "$T/demo" running 150; then ok "demo: all workers ready"; else fail "demo never running: $(cat "$T/demo.err")"; fi
berth status "$T/demo" > "$T/status.out" 2>&1 && grep -q "rollout/1" "$T/status.out" && grep -q "ready" "$T/status.out" \
  && ok "status lists the workers" || fail "status: $(cat "$T/status.out")"
port=$($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); w=[w for w in s["workers"] if w["id"]=="actor/1"][0]; print([p["port"] for p in w["ports"] if p["name"]=="http"][0])' "$T/demo/state.json")
$PY - "$port" <<'PYEOF' && ok "actor/1 env: ranks, master, devices" || fail "actor/1 env"
import json, sys, urllib.request
env = json.load(urllib.request.urlopen("http://127.0.0.1:%s/env" % sys.argv[1], timeout=5))
want = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1",
        "CUDA_VISIBLE_DEVICES": "1", "BERTH_ROLE": "actor", "BERTH_WORKER_ID": "actor/1"}
bad = {k: (env.get(k), v) for k, v in want.items() if env.get(k) != v}
if bad or "MASTER_PORT" not in env:
    print("mismatch:", bad, file=sys.stderr); sys.exit(1)
PYEOF
berth down "$T/demo" > "$T/down.out" 2>&1 && ok "down returned 0" || fail "down: $(cat "$T/down.out")"
wait
if wait_unmarked 50; then ok "demo: no process left"; else fail "demo left processes: $(marked)"; fi
# Teardown order: ref (colocated) before actor, and within a role rank 0 last.
order=$(grep "stopped" "$T/demo/merged.log" | sed 's/^\[\([^]]*\)\].*/\1/' | tr '\n' ' ')
case "$order" in
  *ref/1*ref/0*actor/1*actor/0*) ok "teardown order: $order" ;;
  *) fail "teardown order: $order" ;;
esac

# 2. Env values travel byte-exact.
cat > "$T/env.yaml" <<YAML
name: envtest
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: w
    replicas: 1
    placement: separate
    scheduling_spec:
      cpu: 1
      ports: [http]
      cmd: [$WORKER]
      env_vars:
        TRICKY: "a,b=c \"q\" 'x'  y"
        MULTI: "line1\nline2"
    readiness: {http: {port: http, path: /health}}
YAML
berth run "$T/env.yaml" --run-dir "$T/env" > "$T/env.out" 2>&1 &
wait_phase "$T/env" running 150 || fail "env run: $(cat "$T/env.out")"
port=$($PY -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["workers"][0]["ports"][0]["port"])' "$T/env/state.json")
$PY - "$port" <<'PYEOF' && ok "env byte-exact" || fail "env byte-exact"
import json, sys, urllib.request
env = json.load(urllib.request.urlopen("http://127.0.0.1:%s/env" % sys.argv[1], timeout=5))
assert env.get("TRICKY") == "a,b=c \"q\" 'x'  y", repr(env.get("TRICKY"))
assert env.get("MULTI") == "line1\nline2", repr(env.get("MULTI"))
PYEOF
berth down "$T/env" > /dev/null 2>&1; wait

# 3. A crash at start-up: berth exits with the worker's code and its log tail.
cat > "$T/crash.yaml" <<YAML
name: crash
cluster: {gpus: 2, cpu: 4, mem: 2}
roles:
  - name: ok
    replicas: 2
    placement: shared
    scheduling_spec: {cpu: 1, gpu: 1, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
  - name: bad
    replicas: 1
    placement: separate
    scheduling_spec: {cpu: 1, ports: [http], cmd: [/bin/sh, -c, "echo boom-at-start; exit 7"]}
    readiness: {tcp: http}
YAML
berth run "$T/crash.yaml" --run-dir "$T/crash" > "$T/crash.out" 2> "$T/crash.err"
rc=$?
[ $rc -eq 7 ] && ok "crash at start: exit code 7" || fail "crash at start: rc=$rc"
grep -q "boom-at-start" "$T/crash.err" && grep -q "exited with code 7" "$T/crash.err" \
  && ok "crash at start: reason and log tail" || fail "crash at start: $(cat "$T/crash.err")"
# Rollback: the role that did start is gone too.
if wait_unmarked 30; then ok "partial start rolled back"; else fail "rollback left: $(marked)"; fi

# 3b. A worker that prints a 20 MB line and fails: the error, state.json and berth's output stay
# small (the log tail is 50 lines of at most 4 KiB, the long one marked as cut).
cat > "$T/huge.yaml" <<YAML
name: huge
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: loud
    readiness: {tcp: http}
    scheduling_spec: {cpu: 1, ports: [http], cmd: [/bin/sh, -c, "head -c 20000000 /dev/zero | tr -c x x; echo; echo last-words; exit 3"]}
YAML
berth run "$T/huge.yaml" --run-dir "$T/huge" > "$T/huge.out" 2> "$T/huge.err"
rc=$?
err_bytes=$(wc -c < "$T/huge.err")
state_bytes=$(wc -c < "$T/huge/state.json")
if [ $rc -eq 3 ] && grep -q "last-words" "$T/huge.err" && grep -q "\[cut\] xxxx" "$T/huge.err" &&
  [ "$err_bytes" -lt 65536 ] && [ "$state_bytes" -lt 65536 ]; then
  ok "a 20 MB line: stderr $err_bytes bytes, state.json $state_bytes bytes"
else
  fail "a 20 MB line: rc=$rc, stderr $err_bytes bytes, state.json $state_bytes bytes"
fi

# 3c. The experiment's run_dir is relative to the experiment file, and private whatever the umask.
mkdir -p "$T/sub"
cat > "$T/sub/rel.yaml" <<YAML
name: rel
run_dir: rel-run
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: once
    scheduling_spec: {cpu: 1, cmd: [/bin/true]}
    readiness: none
YAML
(cd / && umask 000 && berth run "$T/sub/rel.yaml" > "$T/rel.out" 2>&1)
rc=$?
mode=$(stat -c %a "$T/sub/rel-run" 2>/dev/null)
logs_mode=$(stat -c %a "$T/sub/rel-run/logs" 2>/dev/null)
if [ $rc -eq 0 ] && [ "$mode" = 700 ] && [ "$logs_mode" = 700 ] && [ ! -e /rel-run ]; then
  ok "run_dir beside the experiment file, mode 700 under umask 000"
else
  fail "relative run_dir: rc=$rc mode=$mode logs=$logs_mode; $(cat "$T/rel.out")"
fi

# 4. A crash later: noticed within a second or two, exit code passed on.
cat > "$T/later.yaml" <<YAML
name: later
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 0.5, ports: [http], cmd: [$WORKER, --exit-after, "1.5", --exit-code, "5"]}
    readiness: {http: {port: http, path: /health}}
YAML
start=$(date +%s%N)
berth run "$T/later.yaml" --run-dir "$T/later" > "$T/later.out" 2> "$T/later.err"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 5 ] && ok "crash later: exit code 5 after ${ms} ms" || fail "crash later: rc=$rc"
[ $ms -lt 4500 ] || fail "crash later took ${ms} ms to notice and stop"
grep -q "exiting with code 5" "$T/later.err" && ok "crash later: log tail" || fail "crash later: $(cat "$T/later.err")"
wait_unmarked 30 || fail "crash later left: $(marked)"

# 5. SIGKILL of berth: workers and the grandchildren that left their
#    session and process group are all gone.
cat > "$T/kill.yaml" <<YAML
name: kill
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: w
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 0.5, cmd: [/bin/sh, -c, "setsid sleep 300 & (sleep 300 &) ; sleep 300"]}
    readiness: none
YAML
berth run "$T/kill.yaml" --run-dir "$T/kill" > "$T/kill.out" 2>&1 &
wait_phase "$T/kill" running 100 || fail "kill run: $(cat "$T/kill.out")"
bpid=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["berth_pid"])' "$T/kill/state.json")
# Every worker and its escaping children have started (bounded wait).
i=0; while [ "$(marked | wc -l)" -lt 6 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
n=$(marked | wc -l)
[ "$n" -ge 6 ] && ok "kill: $n marked processes before SIGKILL" || fail "kill: only $n marked processes"
kill -9 $bpid
if wait_unmarked 100; then ok "SIGKILL of berth: nothing left"; else fail "SIGKILL of berth left: $(marked)"; fi

# 6. Bad input: exit 2, the field named, nothing started.
printf 'name: x\nroles:\n  - name: a\n    replicas: 0\n    scheduling_spec: {cmd: [/bin/true]}\n' > "$T/bad.yaml"
berth run "$T/bad.yaml" --run-dir "$T/bad" > "$T/bad.out" 2> "$T/bad.err"
rc=$?
[ $rc -eq 2 ] && grep -q "replicas" "$T/bad.err" && ok "bad input: exit 2 naming replicas" || fail "bad input: rc=$rc $(cat "$T/bad.err")"

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all run tests passed"
