#!/bin/sh
# Integration test of communication groups (docs/experiment.md,
# "Communication groups") with real processes: every member's own env (the
# demo worker's GET /env) agrees with GET /v1/groups/<name> on rank, world
# size, rendezvous and version; a non-member has none of it; berth scale
# makes version 2, which a long poll waiting on version 1 gets and the new
# member's env says; berth plan --json shows version 1; events.jsonl records
# each version; nothing is left after berth down.
# Usage: groups_cli_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-groups-test
. "$(dirname "$0")/run_test_lib.sh"
LIB=$(cd "$(dirname "$0")/../lib" && pwd)

cat > "$T/exp.yaml" <<YAML
name: groups
cluster: {gpus: 8, cpu: 16, mem: 4}
groups:
  - name: weights
    members:
      - {role: actor, ranks: [0]}
      - {role: rollout}
roles:
  - name: actor
    replicas: 2
    scheduling_spec: {cpu: 1, gpu: 1, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 1, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
YAML

"$BERTH" plan "$T/exp.yaml" --json > "$T/plan.json" 2> "$T/plan.err" || fail "plan: $(cat "$T/plan.err")"
$PY - "$T/plan.json" <<'PY' && ok "plan --json: weights version 1, 3 members, each with its env" || fail "plan: $(head -c 600 "$T/plan.json")"
import json, sys
p = json.load(open(sys.argv[1]))
g = p["comm_groups"][0]
assert g["name"] == "weights" and g["version"] == 1 and g["world_size"] == 3, g
assert g["members"] == ["actor/0", "rollout/0", "rollout/1"], g
env = {w["id"]: w["env"] for w in p["workers"]}
for rank, id in enumerate(g["members"]):
    assert env[id]["BERTH_GROUP_WEIGHTS_RANK"] == str(rank), env[id]
    assert env[id]["BERTH_GROUP_WEIGHTS_MASTER_PORT"] == str(g["master_port"]), env[id]
assert "BERTH_GROUP_WEIGHTS_RANK" not in env["actor/1"]
PY

berth run "$T/exp.yaml" --run-dir "$T/r" > "$T/r.out" 2> "$T/r.err" &
if ! wait_phase "$T/r" running 300; then
  fail "did not come up: $(cat "$T/r.out" "$T/r.err")"
  exit 1
fi
# check VERSION: every member's env against the API's group at that version.
check() {
  $PY - "$T/r" "$1" "$LIB" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3])
import berth_api
api = berth_api.RunApi(sys.argv[1])
want = int(sys.argv[2])
g, checked = berth_api.check_group_env(api, "weights", want)
# Every member is told at version 1; after the scale, only the new one.
assert checked == (g["world_size"] if want == 1 else 1), checked
e = berth_api.worker_env(api.workers()["actor/1"])
assert not any(k.startswith("BERTH_GROUP_") for k in e), "actor/1 is no member"
print(json.dumps(g))
PY
}
check 1 > "$T/v1.json" 2> "$T/v1.err" && ok "version 1: each member's env and the API agree: $(cat "$T/v1.json")" \
  || fail "version 1: $(cat "$T/v1.err")"

# A long poll on version 1, answered by the scale.
$PY - "$T/r" "$LIB" > "$T/poll.json" 2> "$T/poll.err" <<'PY' &
import json, sys
sys.path.insert(0, sys.argv[2])
import berth_api
api = berth_api.RunApi(sys.argv[1], timeout=90)
print(json.dumps(api.get("/v1/groups/weights?after_version=1&timeout=60")))
PY
poll=$!
berth scale "$T/r" rollout 3 > "$T/s.out" 2>&1 || fail "scale: $(cat "$T/s.out")"
wait $poll
$PY -c "
import json, sys
g = json.load(open(sys.argv[1]))
assert g['version'] == 2 and g['world_size'] == 4 and g['members'][-1] == 'rollout/2', g" "$T/poll.json" \
  && ok "the long poll got version 2: $(cat "$T/poll.json")" || fail "long poll: $(cat "$T/poll.json" "$T/poll.err")"
check 2 > "$T/v2.json" 2> "$T/v2.err" && ok "version 2: rollout/2's env says rank 3 of 4 and the new rendezvous" \
  || fail "version 2: $(cat "$T/v2.err")"
versions=$($PY -c '
import json, sys
print(" ".join(str(e["version"]) for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "group"))' "$T/r/events.jsonl")
[ "$versions" = "1 2" ] && ok "events.jsonl: versions $versions" || fail "events: $versions"

berth down "$T/r" > /dev/null 2>&1 && ok "berth down" || fail "berth down"
if wait_unmarked 100; then ok "nothing left"; else fail "left: $(marked)"; fi
[ $fails -eq 0 ] && echo "all group tests passed" || { echo "$fails failure(s)"; exit 1; }
