#!/usr/bin/env bash
# Launch presets on a real Slurm (scripts/slurm-cluster.sh, 4 nodes x 8
# GPUs), with the stand-ins of tests/launchers in place of the tools:
# torchrun over 2 nodes (8 + 2 ranks, one launcher per node), a vLLM
# instance of tp 4 x pp 4 over 2 whole nodes (head and a --headless
# follower), an SGLang instance of tp 4; each process a step on its planned
# node, meeting its world or instance at the head berth rendered; berth down
# leaves nothing. Needs root and Slurm (scripts/install-deps.sh).
#
# Usage: tests/slurm/slurm_launcher_test.sh BERTH DEMO_WORKER
set -u
berth=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
cluster=$root/scripts/slurm-cluster.sh
L=$root/tests/launchers
export PATH="$PATH:/usr/sbin:/sbin"

# shellcheck source=need_slurm.sh
. "$root/tests/slurm/need_slurm.sh"
need_slurm
# shellcheck source=slurm_faults_lib.sh
. "$root/tests/slurm/slurm_faults_lib.sh"
fault_test_begin launchers 4

export STANDIN_TIMEOUT=30
export STANDIN_REPORT_DIR=$T/reports
mkdir -p "$STANDIN_REPORT_DIR"
cat > "$T/launchers.yaml" <<YAML
name: slurmlaunchers
backend: slurm
slurm: {queue_timeout: 60}
roles:
  - name: actor
    replicas: 10
    placement: shared
    launcher: {kind: torchrun, program: [$L/torchrun], args: [$L/train.py]}
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1}
  - name: rollout
    replicas: 1
    placement: deferred
    instance: {tp: 4, pp: 4}
    launcher: {kind: vllm, program: [$L/vllm, serve], args: [/models/m]}
    scheduling_spec: {cpu: 0.25, gpu: 1, mem: 0.25}
    startup_timeout: 60
  - name: sg
    replicas: 1
    placement: separate
    instance: {tp: 4, pp: 1}
    launcher: {kind: sglang, program: [$L/sglang-launch-server], args: [--model-path, /m]}
    scheduling_spec: {cpu: 0.25, gpu: 1, mem: 0.25}
    startup_timeout: 60
YAML

reports() { [ "$(ls "$STANDIN_REPORT_DIR" | grep -c '\.json$')" -ge 15 ]; }
"$berth" run "$T/launchers.yaml" --run-dir "$T/run" > "$T/run.out" 2> "$T/run.err" &
berth_pid=$!
if wait_for 90 phase_is "$T/run" running; then ok "run: every worker ready"
else fail "run never running: $(cat "$T/run.out" "$T/run.err")"; fi
# 10 ranks and 2 agents, 2 vLLM nodes, 1 SGLang.
if wait_for 60 reports; then ok "every stand-in met its world or instance"
else fail "reports: $(ls "$STANDIN_REPORT_DIR"); $(tail -30 "$T/run/merged.log" 2>/dev/null)"; fi
if $PY - "$STANDIN_REPORT_DIR" "$T/run/state.json" <<'PY'; then ok "each on its planned node, heads and sizes agree"; else fail "what the stand-ins saw"; fi
import json, os, sys
d = sys.argv[1]
r = {f[:-5]: json.load(open(os.path.join(d, f))) for f in os.listdir(d) if f.endswith(".json")}
state = json.load(open(sys.argv[2]))
node = {w["id"]: w["node"] for w in state["workers"]}
assert node["actor/0"] != node["actor/1"] and node["rollout/0"] != node["rollout/0.1"], node
# A step runs on its planned node: hostname is the node there.
for k in ("node0", "node1"):
    assert r["torchrun." + k]["host"] == node["actor/" + k[-1]], (k, r["torchrun." + k])
assert sorted(r["torchrun.node%d" % n]["nproc"] for n in (0, 1)) == [2, 8], r
assert all(r["train.actor.rank%d" % i]["env"]["WORLD_SIZE"] == "10" for i in range(10)), r
head, follower = r["vllm.rollout_0"], r["vllm.rollout_0.1"]
assert head["host"] == node["rollout/0"] and follower["host"] == node["rollout/0.1"], (head, follower)
assert head["master"] == follower["master"] and len(head["devices"]) == 8 == len(follower["devices"]), (head, follower)
assert r["sglang.sg_0"]["tp"] == 4 and len(r["sglang.sg_0"]["devices"]) == 4, r
PY

stop_run "$T/run" "down"

[ "$failures" -eq 0 ] && echo "PASS" || { echo "FAILED: $failures"; exit 1; }
