#!/bin/sh
# End-to-end checks of `berth plan`: the examples plan (as a map for people
# and as JSON, checked with Python), cluster files give the same plan every
# time, bad input exits 2 and a plan that does not fit exits 3, each with
# nothing on stdout and the reason on stderr.
#
# Usage (from the repository root): tests/cli/plan_cli_test.sh PATH_TO_BERTH

set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 PATH_TO_BERTH" >&2
  exit 2
fi
berth=$1
python=/usr/bin/python3

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run ARGS...: runs berth; leaves the status in $rc, output in $tmp/out, $tmp/err.
run() {
  "$berth" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}

# check NAME PYTHON_CODE: runs the code with the JSON on stdin as `d`;
# AssertionError messages say what is wrong.
check() {
  "$python" -c "
import json, sys
d = json.load(sys.stdin)
W = {w['id']: w for w in d['workers']}
$2
" <"$tmp/out" 2>"$tmp/py" || fail "$1: $(tail -n 3 "$tmp/py")"
}

expect_ok() {
  [ "$rc" -eq 0 ] || fail "$1: exit $rc, want 0; stderr: $(cat "$tmp/err")"
  [ -s "$tmp/out" ] || fail "$1: stdout is empty"
}

# --- the demo, on this machine with declared GPUs ------------------------------

run plan examples/demo.yaml
expect_ok "demo"
[ -s "$tmp/err" ] && fail "demo: stderr is not empty: $(cat "$tmp/err")"
for want in NODE GPU WORKER RANK PORTS actor/0 actor/1 rollout/0 rollout/1 ref/0 ref/1 \
    'fork of actor/0' 'tp 2 pp 1' GROUPS 'http=' 'master='; do
  grep -qF -- "$want" "$tmp/out" || fail "demo: the map lacks '$want'"
done

run plan examples/demo.yaml --json
expect_ok "demo --json"
check "demo --json" '
assert sorted(W) == ["actor/0", "actor/1", "ref/0", "ref/1", "rollout/0", "rollout/1"], sorted(W)
assert [g["group"] for g in d["groups"]] == ["actor", "rollout/0", "rollout/1"]
assert all(g["state"] == "CREATED" for g in d["groups"])
for i in range(2):
    a, r = W["actor/%d" % i], W["ref/%d" % i]
    assert r["node"] == a["node"] and r["gpus"] == a["gpus"], (a, r)
    assert r["env"]["CUDA_VISIBLE_DEVICES"] == a["env"]["CUDA_VISIBLE_DEVICES"]
    assert r["fork_of"] == "actor/%d" % i
    assert a["env"]["RANK"] == str(i) and a["env"]["WORLD_SIZE"] == "2"
    assert a["env"]["MASTER_PORT"] == str(W["actor/0"]["ports"]["master"])
    assert len(W["rollout/%d" % i]["gpus"]) == 2
    assert W["rollout/%d" % i]["env"]["BERTH_TP"] == "2"
# Fork accounting: the actor bundles carry the ref cpu and mem.
b = d["groups"][0]["bundles"][0]["resources"]
assert b["CPU"] == 1.5 and b["memory"] == 1.5 * 2**30, b
for w in W.values():
    assert w["env"]["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, w["gpus"])), w["id"]
    assert w["env"]["BERTH_WORKER_ID"] == w["id"]
    assert w["env"]["BERTH_PORT_HTTP"] == str(w["ports"]["http"])
    assert w["readiness"] == {"kind": "http", "port": "http", "path": "/health"}
    assert w["argv"] == ["build/berth-demo-worker"]
ports = [p for w in W.values() for p in w["ports"].values()]
assert len(ports) == len(set(ports)), ports
assert all(1 <= p <= 65535 for p in ports)
assert d["warnings"] == [] and d["aliases"] == []
'

# --- a multi-node cluster file -----------------------------------------------

run plan examples/multinode.yaml --json
expect_ok "multinode --json"
cp "$tmp/out" "$tmp/multinode.json"
check "multinode --json" '
actors = [W["actor/%d" % i] for i in range(16)]
assert len({a["node"] for a in actors}) == 2, "16 ranks of 1 GPU should fill 2 nodes"
assert all(a["env"]["MASTER_ADDR"] == actors[0]["address"] for a in actors)
local = {}
for a in actors:
    local.setdefault(a["node"], []).append(a)
for node_ranks in local.values():
    assert [a["env"]["LOCAL_RANK"] for a in node_ranks] == [str(i) for i in range(len(node_ranks))]
    assert all(a["env"]["LOCAL_WORLD_SIZE"] == str(len(node_ranks)) for a in node_ranks)
head, other = W["rollout/0"], W["rollout/0.1"]
assert head["node"] != other["node"] and actors[0]["node"] not in (head["node"], other["node"])
g = [g for g in d["groups"] if g["group"] == "rollout/0"][0]
assert g["strategy"] == "STRICT_SPREAD"
assert [b["resources"] for b in g["bundles"]] == [{"CPU": 64, "GPU": 8, "memory": 256 * 2**30}] * 2
rdzv = "%s:%d" % (head["address"], head["ports"]["rendezvous"])
for w, rank in ((head, "0"), (other, "1")):
    argv = w["argv"]
    assert argv[argv.index("--dist-init-addr") + 1] == rdzv, argv
    assert argv[argv.index("--node-rank") + 1] == rank
    assert argv[argv.index("--nnodes") + 1] == "2" and argv[argv.index("--tp") + 1] == "16"
assert d["aliases"] == [{"role": "critic", "target": "actor"}]
assert not any(w["role"] == "critic" for w in W.values())
'
run plan examples/multinode.yaml --json
cmp -s "$tmp/multinode.json" "$tmp/out" || fail "multinode: two runs printed different plans"

run plan examples/multinode.yaml --json --cluster examples/cluster4x8.json
expect_ok "--cluster"
cmp -s "$tmp/multinode.json" "$tmp/out" || fail "--cluster: a different plan than the file's cluster"
grep -qF "replaces the experiment's cluster" "$tmp/err" || fail "--cluster: no warning on stderr"

run plan examples/multinode.yaml
expect_ok "multinode map"
grep -qF "rollout/0.1" "$tmp/out" || fail "multinode map: lacks rollout/0.1"
grep -qF "ALIASES" "$tmp/out" || fail "multinode map: lacks the aliases"

# An instance bigger than a node is deferred, with a warning.
cat >"$tmp/big.yaml" <<'EOF'
name: big
roles:
  - {name: gen, placement: separate, instance: {tp: 16}, scheduling_spec: {gpu: 1, cmd: [x]}}
EOF
run plan "$tmp/big.yaml" --cluster examples/cluster4x8.json --json
expect_ok "auto-deferral"
grep -qF "warning: $tmp/big.yaml: roles[0] (gen): an instance needs 16 GPUs" "$tmp/err" ||
  fail "auto-deferral: no warning on stderr: $(cat "$tmp/err")"
check "auto-deferral" 'assert sorted(W) == ["gen/0", "gen/0.1"] and len(d["warnings"]) == 1'

# A relative cluster file is found beside the experiment.
mkdir "$tmp/sub"
cp examples/cluster4x8.json "$tmp/sub/c.json"
printf 'name: rel\ncluster: {file: c.json}\nroles: [{name: a, scheduling_spec: {gpu: 8, cmd: [x]}}]\n' \
  >"$tmp/sub/e.yaml"
run plan "$tmp/sub/e.yaml" --json
expect_ok "relative cluster file"

# --- help ---------------------------------------------------------------------

run plan --help
[ "$rc" -eq 0 ] || fail "plan --help: exit $rc, want 0"
grep -q -- --json "$tmp/out" || fail "plan --help: does not list --json"

# --- bad input: exit 2 --------------------------------------------------------

# expect_error NAME CODE WANT ARGS...: exit CODE, nothing on stdout, WANT on stderr.
expect_error() {
  name=$1
  code=$2
  want=$3
  shift 3
  run "$@"
  [ "$rc" -eq "$code" ] || fail "$name: exit $rc, want $code; stderr: $(cat "$tmp/err")"
  [ -s "$tmp/out" ] && fail "$name: stdout is not empty"
  grep -qF -- "$want" "$tmp/err" || fail "$name: stderr lacks '$want': $(cat "$tmp/err")"
}

# expect_bad NAME WANT YAML: the experiment is rejected with exit 2, naming WANT.
expect_bad() {
  printf '%s\n' "$3" >"$tmp/bad.yaml"
  expect_error "$1" 2 "$2" plan "$tmp/bad.yaml"
  grep -qF "$tmp/bad.yaml:" "$tmp/err" || fail "$1: stderr does not name the file"
}

expect_error "no experiment" 2 "experiment" plan
expect_error "missing file" 2 "$tmp/none.yaml: cannot read" plan "$tmp/none.yaml"
expect_error "unknown flag" 2 "--bogus" plan examples/demo.yaml --bogus
expect_error "missing cluster file" 2 "$tmp/none.json: cannot read" \
  plan examples/demo.yaml --cluster "$tmp/none.json"
printf '{"nodes": [{"name": "a", "resources": {"GPU": 1.5}}]}\n' >"$tmp/c.json"
expect_error "bad cluster file" 2 "$tmp/c.json: nodes[0].resources.GPU: 1.5 is not whole" \
  plan examples/demo.yaml --cluster "$tmp/c.json"

expect_bad "malformed" "malformed YAML" 'name: x
roles: ['
expect_bad "gpu not whole" "roles[0].scheduling_spec.gpu: 1.5 is not whole" \
  'name: x
roles: [{name: a, scheduling_spec: {gpu: 1.5, cmd: [x]}}]'
expect_bad "unknown key" 'roles[0]: unknown key "replica"; allowed: name, replicas' \
  'name: x
roles: [{name: a, replica: 2, scheduling_spec: {cmd: [x]}}]'
expect_bad "spec count" "spec count must be 1 or match replicas; got 2 specs for 3 replicas" \
  'name: x
roles: [{name: a, replicas: 3, scheduling_spec: [{cmd: [x]}, {cmd: [y]}]}]'
expect_bad "berth-owned env" "env_vars.MASTER_PORT: MASTER_PORT is set by berth" \
  'name: x
roles: [{name: a, scheduling_spec: {cmd: [x], env_vars: {MASTER_PORT: "1"}}}]'
# 3 does not divide 2 (1 would: a grouped fork, docs/experiment.md).
expect_bad "replica mismatch" 'Replica count mismatch: "b" has 3 replicas but its target "a" has 2' \
  'name: x
roles:
  - {name: a, replicas: 2, scheduling_spec: {cmd: [x]}}
  - {name: b, replicas: 3, scheduling_strategy: {type: colocation, target: a}, scheduling_spec: {cmd: [x]}}'
expect_bad "unknown placeholder" "roles[0].scheduling_spec.cmd[1]: unknown placeholder {PORT}" \
  'name: x
cluster: {gpus: 0, cpu: 1, mem: 1}
roles: [{name: a, scheduling_spec: {cmd: [x, "{PORT}"]}}]'

# --- does not fit: exit 3 -----------------------------------------------------

printf 'name: x\nroles: [{name: a, scheduling_spec: {gpu: 16, cmd: [x]}}]\n' >"$tmp/fit.yaml"
expect_error "infeasible" 3 'roles[0] (a): group "a" is not placed (INFEASIBLE)' \
  plan "$tmp/fit.yaml" --cluster examples/cluster4x8.json
grep -qF "never_fits" "$tmp/err" || fail "infeasible: no per-node breakdown: $(cat "$tmp/err")"
printf 'name: x\ncluster: {gpus: 2, cpu: 4, mem: 4}\nroles: [{name: a, scheduling_spec: {gpu: 4, cmd: [x]}}]\n' \
  >"$tmp/fit.yaml"
expect_error "infeasible locally" 3 "INFEASIBLE" plan "$tmp/fit.yaml"
printf 'name: x
roles:
  - {name: a, replicas: 4, scheduling_spec: {gpu: 8, cmd: [x]}}
  - {name: b, scheduling_spec: {gpu: 1, cmd: [x]}}
' >"$tmp/fit.yaml"
expect_error "pending" 3 'group "b" is not placed (PENDING)' \
  plan "$tmp/fit.yaml" --cluster examples/cluster4x8.json

# Input files are bounded: refused with their size and the limit, before they fill the memory.
expect_error "endless input" 2 "/dev/zero: more than 4 MiB, over the limit of 4 MiB for an experiment file" \
  plan /dev/zero
truncate -s 5M "$tmp/big.yaml"
expect_error "large experiment" 2 "big.yaml: 5242880 bytes, over the limit of 4 MiB for an experiment file" \
  plan "$tmp/big.yaml"
expect_error "endless cluster" 2 "/dev/zero: more than 64 MiB, over the limit of 64 MiB for a cluster file" \
  plan examples/demo.yaml --cluster /dev/zero
# Durations: nan, inf and negatives are refused, naming the flag (CLI::Range let nan through).
for bad in nan inf -1 1e9 5s; do
  run run examples/demo.yaml --grace "$bad"
  [ "$rc" -eq 2 ] || fail "--grace $bad: exit $rc, want 2"
  grep -qF -- "--grace: \"$bad\" is not a number of seconds from 0 to 600" "$tmp/err" ||
    fail "--grace $bad: $(cat "$tmp/err")"
  run down "$tmp" --timeout "$bad"
  [ "$rc" -eq 2 ] || fail "--timeout $bad: exit $rc, want 2"
  grep -qF -- "--timeout: \"$bad\" is not a number of seconds from 0 to 3600" "$tmp/err" ||
    fail "--timeout $bad: $(cat "$tmp/err")"
done

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "plan_cli_test: all checks passed"
