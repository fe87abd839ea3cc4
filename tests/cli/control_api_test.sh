#!/bin/sh
# Integration test of the control API of `berth run` (docs/control-api.md):
# a real run, every endpoint, every error, then `berth down` through the API.
# Usage: control_api_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-control-test
. "$(dirname "$0")/run_test_lib.sh"

# api METHOD PATH [BODY] -> prints the HTTP status; the body is in $T/body.
# TOKEN (default: the run's) is sent as the bearer token; TOKEN=none sends none.
# curl when there is one, else Python's http.client.
cat > "$T/api.py" <<'PYEOF'
import http.client, sys
port, method, path, token, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
body = sys.argv[6] if len(sys.argv) > 6 else None
headers = {} if token == "none" else {"Authorization": "Bearer " + token}
if body is not None:
    headers["Content-Type"] = "application/json"
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
c.request(method, path, body=body.encode() if body is not None else None, headers=headers)
r = c.getresponse()
open(out, "wb").write(r.read())
print(r.status)
PYEOF
api() {
  tok=${TOKEN:-$RUN_TOKEN}
  if command -v curl > /dev/null 2>&1; then
    set -- "$1" "$2" "${3-}" "$#"
    auth=""
    [ "$tok" != none ] && auth="Authorization: Bearer $tok"
    if [ "$4" -ge 3 ]; then
      curl -s -o "$T/body" -w '%{http_code}' -X "$1" ${auth:+-H "$auth"} -H 'Content-Type: application/json' \
        --data-binary "$3" "http://127.0.0.1:$PORT$2"
    else
      curl -s -o "$T/body" -w '%{http_code}' -X "$1" ${auth:+-H "$auth"} "http://127.0.0.1:$PORT$2"
    fi
  else
    if [ $# -ge 3 ]; then $PY "$T/api.py" "$PORT" "$1" "$2" "$tok" "$T/body" "$3"
    else $PY "$T/api.py" "$PORT" "$1" "$2" "$tok" "$T/body"; fi
  fi
}
# check 'PYTHON EXPRESSION over b (the last body)' DESCRIPTION
check() {
  if $PY -c "import json,sys; b=json.load(open(sys.argv[1])); sys.exit(0 if ($1) else 1)" "$T/body" 2>/dev/null; then
    ok "$2"
  else
    fail "$2: $(cat "$T/body")"
  fi
}
expect() {  # expect STATUS GOT DESCRIPTION
  if [ "$2" = "$1" ]; then ok "$3 ($2)"; else fail "$3: HTTP $2, want $1: $(cat "$T/body" 2>/dev/null)"; fi
}
alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }

cat > "$T/exp.yaml" <<YAML
name: control
cluster: {gpus: 4, cpu: 8, mem: 8}
roles:
  - name: actor
    replicas: 2
    placement: shared
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
YAML
# Not through the function: $! is then berth's own pid.
BERTH_TEST_MARK="$MARK" "$BERTH" run "$T/exp.yaml" --run-dir "$T/run" > "$T/run.out" 2> "$T/run.err" &
BPID=$!
if wait_phase "$T/run" running 150; then ok "berth run is running"; else fail "never running: $(cat "$T/run.err")"; fi

# The token file and the address.
mode=$(stat -c %a "$T/run/control.token" 2>/dev/null)
[ "$mode" = 600 ] && ok "control.token is mode 600" || fail "control.token mode: $mode"
RUN_TOKEN=$(cat "$T/run/control.token")
[ ${#RUN_TOKEN} -eq 64 ] && ok "token: 64 hex digits" || fail "token: $RUN_TOKEN"
PORT=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$T/run/control.json")
pid_in=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$T/run/control.json")
[ "$pid_in" = "$BPID" ] && ok "control.json names berth's pid" || fail "control.json pid $pid_in, berth $BPID"

# Status and roles.
expect 200 "$(api GET /v1/status)" "GET /v1/status"
check 'b["phase"] == "running" and b["berth_pid"] > 0 and len(b["workers"]) == 2 and all(w["state"] == "ready" and w["ports"]["http"] > 0 for w in b["workers"])' "status: 2 workers ready, ports by name"
expect 200 "$(api GET /v1/roles)" "GET /v1/roles"
check 'b == {"roles": ["actor"]}' "roles: actor"
expect 200 "$(api GET '/v1/roles/actor/workers?timeout=5')" "GET workers of actor"
check '[w["id"] for w in b["workers"]] == ["actor/0", "actor/1"] and all(w["phase"] == "ready" and w["ip"] == "127.0.0.1" for w in b["workers"])' "workers: actor/0, actor/1 ready"

# A role created at run time.
EXTRA='{"name": "extra", "replicas": 2, "placement": "separate",
  "scheduling_spec": {"cpu": 0.5, "gpu": 1, "ports": ["http"], "cmd": ["'"$WORKER"'"]},
  "readiness": {"http": {"port": "http", "path": "/health"}}, "startup_timeout": 20}'
expect 200 "$(api POST /v1/roles "$EXTRA")" "POST /v1/roles extra"
check 'b == {"ids": ["extra/0", "extra/1"]}' "create: ids extra/0, extra/1"
expect 200 "$(api GET /v1/roles/extra/workers)" "GET workers of extra"
check 'len(b["workers"]) == 2 and all(w["phase"] == "ready" for w in b["workers"])' "extra workers ready"
extra_pids=$($PY -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(open(sys.argv[1]))["workers"]))' "$T/body")
extra_port=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["workers"][1]["ports"]["http"])' "$T/body")
$PY -c 'import sys, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/health" % sys.argv[1], timeout=5)' "$extra_port" \
  && ok "extra/1 serves /health" || fail "extra/1 does not serve /health"
berth status "$T/run" > "$T/status.out" 2>&1
grep -q "extra/1" "$T/status.out" && grep "extra/1" "$T/status.out" | grep -q ready && ! grep -q "last saved state" "$T/status.out" \
  && ok "berth status (live) shows extra/1 ready" || fail "status: $(cat "$T/status.out")"
grep -q '"extra/1"' "$T/run/state.json" && ok "state.json records extra/1" || fail "state.json lacks extra/1"

# A fork onto it.
expect 200 "$(api POST /v1/roles/extrafork/fork '{"target": "extra"}')" "POST fork extrafork onto extra"
check 'b == {"ids": ["extrafork/0", "extrafork/1"]}' "fork: ids"
expect 200 "$(api GET /v1/roles/extrafork/workers)" "GET workers of extrafork"
check 'b["workers"][0]["fork_of"] == "extra/0" and b["workers"][1]["env"]["CUDA_VISIBLE_DEVICES"] != ""' "fork: on extra's workers and GPUs"
fork_pids=$($PY -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(open(sys.argv[1]))["workers"]))' "$T/body")
expect 200 "$(api GET /v1/roles)" "GET /v1/roles"
check 'b == {"roles": ["actor", "extra", "extrafork"]}' "roles: actor, extra, extrafork"

# Errors.
DUP='{"name": "actor", "scheduling_spec": {"cmd": ["/bin/true"]}}'
expect 400 "$(api POST /v1/roles "$DUP")" "duplicate role"
check 'b["error"]["code"] == "invalid_spec" and "already has workers" in b["error"]["message"]' "duplicate role: invalid_spec, says why"
BADFIELD='{"name": "z", "replicas": 0, "scheduling_spec": {"cmd": ["/bin/true"]}}'
expect 400 "$(api POST /v1/roles "$BADFIELD")" "replicas 0"
check '"replicas" in b["error"]["message"]' "replicas 0: names the field"
expect 404 "$(api GET /v1/roles/nope/workers)" "workers of an unknown role"
check 'b["error"]["code"] == "not_found" and "nope" in b["error"]["message"]' "unknown role: not_found naming it"
expect 404 "$(api DELETE /v1/roles/nope)" "delete an unknown role"
expect 404 "$(api POST /v1/roles/f/fork '{"target": "nope"}')" "fork onto an unknown role"
BIG='{"name": "huge", "replicas": 1, "placement": "separate", "scheduling_spec": {"gpu": 16, "cmd": ["/bin/true"]}}'
expect 409 "$(api POST /v1/roles "$BIG")" "a role that cannot fit"
check 'b["error"]["code"] == "infeasible" and "huge" in b["error"]["message"]' "infeasible, with the reason"
expect 400 "$(api POST /v1/roles '{"name": "x", ')" "bad JSON"
check 'b["error"]["code"] == "invalid_spec" and "not valid JSON" in b["error"]["message"]' "bad JSON: says so"
expect 400 "$(api GET '/v1/roles/actor/workers?timeout=soon')" "bad timeout"
expect 404 "$(api GET /v1/everything)" "unknown path"
check '"GET /v1/status" in b["error"]["message"] and "POST /v1/down" in b["error"]["message"]' "unknown path: lists the endpoints"
expect 401 "$(TOKEN=none api DELETE /v1/roles/extra)" "no token"
check 'b["error"]["code"] == "unauthorized"' "no token: unauthorized"
expect 401 "$(TOKEN=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef api DELETE /v1/roles/extra)" "wrong token"
expect 401 "$(TOKEN=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef api POST /v1/down)" "wrong token, down"
alive $extra_pids && ok "extra's workers still run after the refused delete" || fail "a refused delete stopped workers"
kill -0 $BPID 2>/dev/null && ok "berth still runs after the refused down" || fail "berth stopped on a refused down"
expect 200 "$(api GET /v1/roles)" "roles after the errors"
check 'b == {"roles": ["actor", "extra", "extrafork"]}' "failed calls left no role behind"

# Delete: the role and what is colocated on it; their processes gone.
expect 200 "$(api DELETE /v1/roles/extra)" "DELETE extra"
check 'b["deleted"] == "extra" and b["roles_deleted"] == ["extrafork", "extra"]' "delete: extra and its fork"
if alive $extra_pids $fork_pids; then fail "deleted workers still run"; else ok "deleted workers are gone"; fi
expect 200 "$(api GET /v1/status)" "status after delete"
check 'all(w["state"] == "stopped" for w in b["workers"] if w["role"] in ("extra", "extrafork")) and [w["state"] for w in b["workers"] if w["role"] == "actor"] == ["ready", "ready"]' "status: extra stopped, actor ready"
expect 404 "$(api GET /v1/roles/extra/workers)" "workers of the deleted role"

# berth down through the API.
berth down "$T/run" > "$T/down.out" 2> "$T/down.err" && ok "berth down returned 0" || fail "down: $(cat "$T/down.out" "$T/down.err")"
grep -q "SIGTERM" "$T/down.err" && fail "down fell back to SIGTERM: $(cat "$T/down.err")"
wait $BPID
rc=$?
[ $rc -eq 0 ] && ok "berth run exited 0" || fail "berth run exited $rc: $(tail -5 "$T/run.err")"
grep -q "berth down through the control API" "$T/run.out" && ok "berth run says why it stopped" || fail "run output: $(tail -5 "$T/run.out")"
if wait_unmarked 50; then ok "no worker process left"; else fail "left: $(marked)"; fi
[ ! -e "$T/run/control.token" ] && [ ! -e "$T/run/control.json" ] && ok "control.token and control.json removed" \
  || fail "control files left: $(ls "$T/run")"
berth status "$T/run" > "$T/status2.out" 2>&1
grep -q "berth is not running; last saved state" "$T/status2.out" && ok "status afterwards: last saved state" \
  || fail "status afterwards: $(cat "$T/status2.out")"

# A worker of a role created through the API that fails later stops the run
# like any other, with its exit code.
BERTH_TEST_MARK="$MARK" "$BERTH" run "$T/exp.yaml" --run-dir "$T/run2" > "$T/run2.out" 2> "$T/run2.err" &
BPID=$!
wait_phase "$T/run2" running 150 || fail "second run never running: $(cat "$T/run2.err")"
RUN_TOKEN=$(cat "$T/run2/control.token")
PORT=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$T/run2/control.json")
DIES='{"name": "dies", "placement": "separate",
  "scheduling_spec": {"cpu": 0.5, "ports": ["http"], "cmd": ["'"$WORKER"'", "--exit-after", "1", "--exit-code", "5"]},
  "readiness": {"http": {"port": "http", "path": "/health"}}}'
expect 200 "$(api POST /v1/roles "$DIES")" "create a role whose worker fails later"
wait $BPID
rc=$?
[ $rc -eq 5 ] && ok "its failure stopped berth run with code 5" || fail "berth run exited $rc: $(tail -5 "$T/run2.err")"
grep -q "worker dies/0 exited with code 5" "$T/run2.err" && ok "berth names the failed worker" || fail "run2: $(cat "$T/run2.err")"
grep -q '"id": "dies/0"' "$T/run2/state.json" && grep -q '"state": "failed"' "$T/run2/state.json" \
  && ok "state.json: dies/0 failed" || fail "state.json: $(cat "$T/run2/state.json")"
if wait_unmarked 50; then ok "second run: no worker process left"; else fail "second run left: $(marked)"; fi

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all control API tests passed"
