#!/bin/sh
# End-to-end checks of `berth place`: the examples succeed with one JSON
# document, identical from run to run; bad input exits 2 with nothing on
# stdout and the offending field named on stderr.
#
# Usage (from the repository root): tests/cli/place_cli_test.sh PATH_TO_BERTH

set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 PATH_TO_BERTH" >&2
  exit 2
fi
berth=$1
python=/usr/bin/python3
cluster=examples/cluster.json
ops=examples/ops.json

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

is_json() {
  "$python" -c 'import json,sys; json.load(sys.stdin)' <"$1" 2>/dev/null
}

# --- the examples ----------------------------------------------------------

run place --cluster "$cluster" --ops "$ops"
if [ "$rc" -ne 0 ]; then
  fail "examples: exit $rc, want 0; stderr: $(cat "$tmp/err")"
fi
[ -s "$tmp/out" ] || fail "examples: stdout is empty"
[ -s "$tmp/err" ] && fail "examples: stderr is not empty: $(cat "$tmp/err")"
is_json "$tmp/out" || fail "examples: stdout is not one JSON document"
for want in '"state": "CREATED"' '"state": "PENDING"' '"state": "INFEASIBLE"' \
    '"state": "RESCHEDULING"' '"state": "REMOVED"' '"held": [' '"fraction": 0.5' \
    '"name": "node-4"'; do
  grep -qF "$want" "$tmp/out" || fail "examples: output lacks $want"
done
cp "$tmp/out" "$tmp/first"

run place --cluster "$cluster" --ops "$ops"
cmp -s "$tmp/first" "$tmp/out" || fail "examples: two runs printed different output"

run place --cluster "$cluster" --ops "$ops" --compact
[ "$rc" -eq 0 ] || fail "--compact: exit $rc, want 0"
is_json "$tmp/out" || fail "--compact: stdout is not one JSON document"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "--compact: output is not one line"
"$python" -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sys.exit(0 if a == b else 1)' "$tmp/first" "$tmp/out" ||
  fail "--compact: a different document than the indented one"

# --- help and flags ----------------------------------------------------------

run --help
[ "$rc" -eq 0 ] || fail "--help: exit $rc, want 0"
grep -q place "$tmp/out" || fail "--help: does not list the place subcommand"

run place --help
[ "$rc" -eq 0 ] || fail "place --help: exit $rc, want 0"
grep -q -- --cluster "$tmp/out" || fail "place --help: does not list --cluster"

# expect_usage_error NAME WANT ARGS...: exit 2, nothing on stdout, WANT on stderr.
expect_usage_error() {
  name=$1
  want=$2
  shift 2
  run "$@"
  [ "$rc" -eq 2 ] || fail "$name: exit $rc, want 2"
  [ -s "$tmp/out" ] && fail "$name: stdout is not empty"
  grep -qF -- "$want" "$tmp/err" || fail "$name: stderr lacks '$want': $(cat "$tmp/err")"
}

expect_usage_error "no subcommand" "subcommand"
expect_usage_error "missing --ops" "--ops" place --cluster "$cluster"
expect_usage_error "missing --cluster" "--cluster" place --ops "$ops"
expect_usage_error "unknown flag" "--bogus" place --cluster "$cluster" --ops "$ops" --bogus
expect_usage_error "unreadable ops" "$tmp/missing.json" place --cluster "$cluster" \
  --ops "$tmp/missing.json"
expect_usage_error "directory as cluster" "$tmp" place --cluster "$tmp" --ops "$ops"

# --- bad input files -----------------------------------------------------------

# expect_bad_ops NAME WANT OPS_TEXT: the ops file is rejected, naming WANT.
expect_bad_ops() {
  printf '%s\n' "$3" >"$tmp/ops.json"
  expect_usage_error "$1" "$2" place --cluster "$cluster" --ops "$tmp/ops.json"
  grep -qF "$tmp/ops.json: " "$tmp/err" || fail "$1: stderr does not name the file"
}

# expect_bad_cluster NAME WANT CLUSTER_TEXT
expect_bad_cluster() {
  printf '%s\n' "$3" >"$tmp/cluster.json"
  expect_usage_error "$1" "$2" place --cluster "$tmp/cluster.json" --ops "$ops"
  grep -qF "$tmp/cluster.json: " "$tmp/err" || fail "$1: stderr does not name the file"
}

create='{"op": "create", "group": "g", "strategy": "PACK", "bundles": [{"CPU": 1}]}'

expect_bad_ops "malformed json" "line 2, column 1: malformed JSON" '{"ops": ['
expect_bad_ops "unknown strategy" 'ops[1].strategy: unknown strategy "FOO"; allowed: PACK' \
  '{"ops": ['"$create"', {"op": "create", "group": "h", "strategy": "FOO", "bundles": [{"CPU": 1}]}]}'
expect_bad_ops "missing strategy" "ops[0].strategy: required key is missing" \
  '{"ops": [{"op": "create", "group": "g", "bundles": [{"CPU": 1}]}]}'
expect_bad_ops "unknown op" 'ops[0].op: unknown op "delete"; allowed: create, remove' \
  '{"ops": [{"op": "delete", "group": "g"}]}'
expect_bad_ops "unknown key" 'ops[0]: unknown key "stratgy"; allowed: op, group, strategy' \
  '{"ops": [{"op": "create", "group": "g", "stratgy": "PACK", "bundles": [{"CPU": 1}]}]}'
expect_bad_ops "negative quantity" "ops[0].bundles[0].CPU: -2 is negative" \
  '{"ops": [{"op": "create", "group": "g", "strategy": "PACK", "bundles": [{"CPU": -2}]}]}'
expect_bad_ops "string quantity" 'ops[0].bundles[1].GPU: must be a number >= 0, got "1"' \
  '{"ops": [{"op": "create", "group": "g", "strategy": "PACK", "bundles": [{"CPU": 1}, {"GPU": "1"}]}]}'
expect_bad_ops "gpu not whole" "ops[0].bundles[0].GPU: 2.5 is not whole" \
  '{"ops": [{"op": "create", "group": "g", "strategy": "PACK", "bundles": [{"GPU": 2.5}]}]}'
expect_bad_ops "empty bundles" "ops[0].bundles: must be a non-empty array" \
  '{"ops": [{"op": "create", "group": "g", "strategy": "PACK", "bundles": []}]}'
expect_bad_ops "duplicate key" 'ops[0].bundles[0]: key "CPU" appears more than once' \
  '{"ops": [{"op": "create", "group": "g", "strategy": "PACK", "bundles": [{"CPU": 1, "CPU": 2}]}]}'
expect_bad_ops "duplicate group" 'ops[1]: group "g" already exists' \
  '{"ops": ['"$create"', '"$create"']}'
expect_bad_ops "unknown group" 'ops[1]: group "nope" does not exist' \
  '{"ops": ['"$create"', {"op": "remove", "group": "nope"}]}'
expect_bad_ops "unknown node" 'ops[0]: node "node-9" does not exist' \
  '{"ops": [{"op": "remove_node", "node": "node-9"}]}'
expect_bad_ops "duplicate node" 'ops[0]: node "node-0" already exists' \
  '{"ops": [{"op": "add_node", "node": {"name": "node-0", "resources": {"CPU": 1}}}]}'
expect_bad_ops "wrong type" "ops: must be an array, got {}" '{"ops": {}}'

expect_bad_cluster "duplicate node name" 'nodes[1].name: "a" is also the name of nodes[0]' \
  '{"nodes": [{"name": "a", "resources": {}}, {"name": "a", "resources": {}}]}'
expect_bad_cluster "fractional node gpu" "nodes[0].resources.GPU: 1.5 is not whole" \
  '{"nodes": [{"name": "a", "resources": {"GPU": 1.5}}]}'
expect_bad_cluster "missing resources" "nodes[0].resources: required key is missing" \
  '{"nodes": [{"name": "a"}]}'
expect_bad_cluster "engine rejects node" 'nodes[0]: node "a": GPU 2000 is above the limit' \
  '{"nodes": [{"name": "a", "resources": {"GPU": 2000}}]}'

if [ "$failures" -ne 0 ]; then
  echo "place_cli_test: $failures check(s) failed" >&2
  exit 1
fi
echo "place_cli_test: all checks passed"
