#!/bin/sh
# Launch presets end to end (docs/experiment.md, "Launch presets"), with the
# stand-ins of tests/launchers in place of torchrun, vLLM and SGLang:
#   1. `berth plan` of examples/launchers.yaml: the rendered command lines;
#   2. `berth run` of it: every stand-in accepts its flags, its world or
#      instance meets at the rendezvous berth rendered, the servers are
#      ready on /health; berth down leaves nothing;
#   3. multi-node: the plan of a 6-node cluster (torchrun on 2 nodes, vLLM
#      and SGLang instances of 2 nodes each), every process started here
#      with its planned argv and env (every "node" is this machine): all
#      meet at their heads;
#   4. the stand-ins refuse what the tools refuse: devices that do not match
#      tp x pp, a follower pointed at no head (within its deadline).
# Usage: launcher_cli_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-launcher-test
. "$(dirname "$0")/run_test_lib.sh"
ROOT=$(pwd)
L=$ROOT/tests/launchers
export STANDIN_TIMEOUT=20
export STANDIN_REPORT_DIR="$T/reports"
mkdir -p "$STANDIN_REPORT_DIR"

# wait_for TENTHS CMD...: CMD succeeds within TENTHS tenths of a second.
wait_for() {
  limit=$1
  shift
  i=0
  while ! "$@" && [ $i -lt "$limit" ]; do sleep 0.1; i=$((i + 1)); done
  "$@"
}
reports() { [ "$(ls "$STANDIN_REPORT_DIR" | grep -c '\.json$')" -ge "$1" ]; }

sed "s#tests/launchers/#$L/#g" examples/launchers.yaml > "$T/launchers.yaml"

# 1. The plan.
berth plan "$T/launchers.yaml" > "$T/plan.txt" 2> "$T/plan.err" \
  && grep -q "^COMMANDS" "$T/plan.txt" \
  && grep -q "actor/0 *$L/torchrun --nnodes 1 --node-rank 0 --nproc-per-node 2 --master-addr 127.0.0.1 --master-port [0-9]* $L/train.py" "$T/plan.txt" \
  && ok "plan shows the rendered command lines" || fail "plan: $(cat "$T/plan.txt" "$T/plan.err")"
berth plan "$T/launchers.yaml" --json > "$T/plan.json" 2>&1 || fail "plan --json: $(cat "$T/plan.json")"
$PY - "$T/plan.json" <<'PYEOF' && ok "plan --json: argv and env agree" || fail "plan --json: argv and env"
import json, sys
w = {x["id"]: x for x in json.load(open(sys.argv[1]))["workers"]}
def flag(x, f): return x["argv"][x["argv"].index(f) + 1]
a = w["actor/0"]
assert flag(a, "--master-port") == str(a["ports"]["master"]) == a["env"]["MASTER_PORT"], a
assert flag(a, "--nproc-per-node") == "2" and a["env"]["CUDA_VISIBLE_DEVICES"] == "0,1", a
r = w["rollout/0"]
assert flag(r, "--tensor-parallel-size") == "2" and len(r["env"]["CUDA_VISIBLE_DEVICES"].split(",")) == 2, r
assert flag(r, "--port") == str(r["ports"]["http"]) and r["readiness"]["path"] == "/health", r
for i in (0, 1):
    g, c = w[f"gen/{i}"], w[f"critic/{i}"]
    assert g["fork_of"] == c["id"] and g["env"]["CUDA_VISIBLE_DEVICES"] == c["env"]["CUDA_VISIBLE_DEVICES"], g
    assert "RANK" not in g["env"] and c["env"]["GROUP_RANK"] == "0" and c["env"]["ROLE_RANK"] == str(i), (g, c)
assert flag(w["sg/0"], "--tp") == "2", w["sg/0"]
PYEOF

# 2. The run.
berth run "$T/launchers.yaml" --run-dir "$T/run" > "$T/run.out" 2> "$T/run.err" &
if wait_phase "$T/run" running 300; then ok "run: every worker ready"; else fail "run never running: $(cat "$T/run.out" "$T/run.err")"; fi
# 2 torch ranks under torchrun, its agent, 2 per rank, 3 vLLM, 1 SGLang.
wait_for 200 reports 9 && ok "every stand-in met its world or instance" \
  || fail "reports: $(ls "$STANDIN_REPORT_DIR"); $(cat "$T/run/merged.log" 2>/dev/null | tail -20)"
$PY - "$STANDIN_REPORT_DIR" "$T/run/state.json" <<'PYEOF' && ok "run: what the stand-ins saw" || fail "run: what the stand-ins saw"
import json, os, sys, urllib.request
d = sys.argv[1]
r = {f[:-5]: json.load(open(os.path.join(d, f))) for f in os.listdir(d) if f.endswith(".json")}
for k in range(2):
    a, c = r[f"train.actor.rank{k}"]["env"], r[f"train.critic.rank{k}"]["env"]
    assert a["WORLD_SIZE"] == "2" and a["TORCHELASTIC_USE_AGENT_STORE"] == "True", a
    assert c["WORLD_SIZE"] == "2" and c["TORCHELASTIC_USE_AGENT_STORE"] == "False", c
    assert r[f"vllm.gen_{k}"]["devices"] == r[f"train.critic.rank{k}"]["devices"], r
assert r["torchrun.node0"]["world"] == 2 and r["torchrun.node0"]["devices"] == ["0", "1"], r
assert r["vllm.rollout_0"]["tp"] == 2 and len(r["vllm.rollout_0"]["devices"]) == 2, r
state = json.load(open(sys.argv[2]))
port = [p["port"] for x in state["workers"] if x["id"] == "rollout/0" for p in x["ports"] if p["name"] == "http"][0]
info = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/standin", timeout=5))
assert info["model"] == "/models/demo" and info["tp"] == 2, info
PYEOF
berth down "$T/run" > "$T/down.out" 2>&1 && ok "down returned 0" || fail "down: $(cat "$T/down.out")"
wait
if wait_unmarked 100; then ok "run: no process left"; else fail "run left processes: $(marked)"; fi

# 3. Multi-node: 6 nodes of 2 GPUs, all this machine (127.0.0.1): torchrun
#    over 2 nodes (2 + 1 ranks), a vLLM instance of tp 2 x pp 2 and an
#    SGLang one of tp 4, each on 2 nodes (deferred: more than a node).
rm -f "$STANDIN_REPORT_DIR"/*
$PY - > "$T/cluster6.json" <<'PYEOF'
import json
print(json.dumps({"nodes": [{"name": f"n{i}", "resources": {"CPU": 16, "GPU": 2, "memory": 2**34},
                             "labels": {"address": "127.0.0.1"}} for i in range(6)]}))
PYEOF
cat > "$T/multi.yaml" <<YAML
name: multi
cluster: {file: cluster6.json}
roles:
  - name: actor
    replicas: 3
    placement: shared
    launcher: {kind: torchrun, program: [$L/torchrun], args: [$L/train.py]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
  - name: rollout
    replicas: 1
    instance: {tp: 2, pp: 2}
    placement: deferred
    launcher: {kind: vllm, program: [$L/vllm, serve], args: [/models/m]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
  - name: sg
    replicas: 1
    instance: {tp: 4, pp: 1}
    placement: deferred
    launcher: {kind: sglang, program: [$L/sglang-launch-server], args: [--model-path, /m]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
YAML
if berth plan "$T/multi.yaml" --json > "$T/multi.json" 2> "$T/multi.err"; then
  BERTH_TEST_MARK="$MARK" $PY - "$T/multi.json" "$ROOT" <<'PYEOF' && ok "multi-node: every node met its head" || fail "multi-node start"
import json, os, re, socket, subprocess, sys, time
workers = json.load(open(sys.argv[1]))["workers"]
ids = [w["id"] for w in workers]
assert ids == ["actor/0", "actor/1", "rollout/0", "rollout/0.1", "sg/0", "sg/0.1"], ids
assert len({w["node"] for w in workers}) == 6, [w["node"] for w in workers]
# A plan for a cluster file counts ports per node, so the "nodes" here hold
# the same numbers: each (node, port) gets a free port of this machine, in
# the argv and env of every process that names it (its own ports and its
# head's, or rank 0's).
by_id = {w["id"]: w for w in workers}
def fresh():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
free = {(w["node"], p): fresh() for w in workers for p in w["ports"].values()}
def remap(w, text):
    head = by_id[w["role"] + "/" + str(0 if w["role"] == "actor" else w["index"])]
    table = {p: free[(head["node"], p)] for p in head["ports"].values()}
    table.update({p: free[(w["node"], p)] for p in w["ports"].values()})
    return re.sub(r"\b\d{4,5}\b", lambda m: str(table.get(int(m.group(0)), m.group(0))), text)
procs = []
for w in workers:
    env = dict(os.environ)
    env.update({k: remap(w, v) for k, v in w["env"].items()})
    procs.append((w, subprocess.Popen([remap(w, a) for a in w["argv"]], env=env, cwd=sys.argv[2])))
def reports():
    return len([f for f in os.listdir(os.environ["STANDIN_REPORT_DIR"]) if f.endswith(".json")])
# 3 ranks and 2 agents, 2 vLLM nodes, 2 SGLang nodes.
deadline = time.monotonic() + 30
while reports() < 9 and time.monotonic() < deadline and all(p.poll() is None for _, p in procs):
    time.sleep(0.1)
ended = [(w["id"], p.poll()) for w, p in procs if p.poll() is not None]
for _, p in procs:
    if p.poll() is None:
        p.terminate()
for _, p in procs:
    p.wait()
assert not ended and reports() == 9, (ended, sorted(os.listdir(os.environ["STANDIN_REPORT_DIR"])))
PYEOF
else
  fail "multi plan: $(cat "$T/multi.err")"
fi
wait_unmarked 50 || fail "multi-node left processes: $(marked)"

# 4. The stand-ins check as the tools do.
if CUDA_VISIBLE_DEVICES=0 "$L/vllm" serve /m --tensor-parallel-size 2 > "$T/bad.out" 2>&1; then
  fail "vllm stand-in accepted tp 2 on one device"
else
  grep -q "CUDA_VISIBLE_DEVICES shows 1" "$T/bad.out" && ok "stand-in: devices against tp x pp" || fail "stand-in: $(cat "$T/bad.out")"
fi
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if STANDIN_TIMEOUT=1 CUDA_VISIBLE_DEVICES=1 "$L/vllm" serve /m --pipeline-parallel-size 2 --nnodes 2 --node-rank 1 \
    --master-addr 127.0.0.1 --master-port "$port" --headless > "$T/lost.out" 2>&1; then
  fail "a follower with no head came up"
else
  grep -q "not complete within 1 s" "$T/lost.out" && ok "stand-in: a follower with no head fails within its deadline" \
    || fail "stand-in: $(cat "$T/lost.out")"
fi

[ "$fails" -eq 0 ] && echo "PASS" || { echo "FAILED: $fails"; exit 1; }
