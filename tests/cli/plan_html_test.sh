#!/bin/sh
# End-to-end checks of `berth plan --html FILE --svg FILE`: the placement map
# is read back (Python's html.parser for the HTML, xml.etree for the SVG) and
# checked against `berth plan --json` of the same run: every worker present,
# on exactly its node and GPUs (data-worker / data-node / data-gpu), nothing
# that is not a worker of the plan. Also: strings from the experiment and the
# cluster escaped (< > & quotes in node names and argv), a 64-node cluster,
# a plan that does not fit (exit 3, map still written with the reason), and
# unwritable paths (exit 2, the path named, nothing on stdout, no stray file).
#
# Usage (from the repository root): tests/cli/plan_html_test.sh PATH_TO_BERTH

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

# check_map NAME JSON HTML SVG: every worker of the plan JSON is in both maps
# on exactly its node and GPUs; the HTML is self-contained.
check_map() {
  "$python" - "$2" "$3" "$4" <<'EOF' 2>"$tmp/py" || fail "$1: $(tail -n 5 "$tmp/py")"
import json, sys
from html.parser import HTMLParser
import xml.etree.ElementTree as ET

plan = json.load(open(sys.argv[1]))
want = sorted((w["id"], w["node"], str(g)) for w in plan["workers"]
              for g in (w["gpus"] or ["none"]))
assert want, "the plan has no workers"

class Boxes(HTMLParser):
    def __init__(self):
        super().__init__()
        self.boxes, self.tags = [], set()
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        for key in ("src", "href"):
            assert key not in a, "the map loads something: %s=%s" % (key, a[key])
        if "data-worker" in a:
            self.boxes.append((a["data-worker"], a["data-node"], a["data-gpu"]))

html = open(sys.argv[2], encoding="utf-8").read()
p = Boxes()
p.feed(html)
p.close()
assert "script" not in p.tags and "link" not in p.tags, p.tags
assert sorted(p.boxes) == want, ("html", sorted(set(p.boxes) ^ set(want))[:10])
for w in plan["workers"]:
    assert html.count('data-worker="%s"' % w["id"].replace("&", "&amp;")) >= 1, w["id"]

svg = ET.parse(sys.argv[3]).getroot()
assert svg.tag == "{http://www.w3.org/2000/svg}svg", svg.tag
boxes = [(e.get("data-worker"), e.get("data-node"), e.get("data-gpu"))
         for e in svg.iter() if e.get("data-worker") is not None]
assert sorted(boxes) == want, ("svg", sorted(set(boxes) ^ set(want))[:10])
EOF
}

# plan_maps NAME ARGS...: berth plan ARGS --json --html --svg; checks the maps.
plan_maps() {
  name=$1
  shift
  rm -f "$tmp/map.html" "$tmp/map.svg"
  run plan "$@" --json --html "$tmp/map.html" --svg "$tmp/map.svg"
  [ "$rc" -eq 0 ] || fail "$name: exit $rc, want 0; stderr: $(cat "$tmp/err")"
  cp "$tmp/out" "$tmp/plan.json"
  check_map "$name" "$tmp/plan.json" "$tmp/map.html" "$tmp/map.svg"
}

# --- the demo and the multi-node example ---------------------------------------

plan_maps "demo" examples/demo.yaml
grep -qF 'fork of actor/0' "$tmp/map.html" || fail "demo: the fork is not marked"
grep -qF 'rank 1/2' "$tmp/map.html" || fail "demo: no rank"
grep -qF 'inst 1 tp2 pp1' "$tmp/map.html" || fail "demo: no rollout instance"
[ -s "$tmp/err" ] && fail "demo: stderr is not empty: $(cat "$tmp/err")"

plan_maps "multinode" examples/multinode.yaml
grep -qF 'alias of actor' "$tmp/map.html" || fail "multinode: the alias is not in the legend"

# The map beside the text output: stdout is the text map as without --html.
run plan examples/demo.yaml
cp "$tmp/out" "$tmp/text"
run plan examples/demo.yaml --html "$tmp/text.html"
[ "$rc" -eq 0 ] && [ -s "$tmp/text.html" ] || fail "text + --html: exit $rc"
grep -qF 'WORKER' "$tmp/out" || fail "text + --html: stdout is not the text map"

# --- 64 nodes, names and args with markup in them -------------------------------

"$python" - "$tmp/c64.json" <<'EOF'
import json, sys
nodes = [{"name": "gpu-%02d" % i, "resources": {"CPU": 64, "GPU": 8, "memory": 512 * 2**30},
          "labels": {"address": "10.1.0.%d" % i}} for i in range(64)]
nodes[1]["name"] = "<b>n&1\"'</b>"
json.dump({"nodes": nodes}, open(sys.argv[1], "w"))
EOF
cat >"$tmp/e64.yaml" <<'EOF'
name: big
roles:
  - name: train
    replicas: 24
    placement: shared
    scheduling_spec: {cpu: 4, gpu: 1, mem: 16, cmd: [t, "<script>alert('&')</script>", "a\"b"]}
  - name: ref
    replicas: 24
    scheduling_strategy: {type: colocation, target: train, fork: true}
    scheduling_spec: {cmd: [r, "--x=<&>"]}
  - name: gen
    replicas: 3
    placement: separate
    instance: {tp: 4}
    scheduling_spec: {cpu: 2, gpu: 1, mem: 8, cmd: [g]}
  - name: judge
    replicas: 4
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 0.5, cmd: [j]}
  - name: sidecar
    scheduling_spec: {cpu: 1, cmd: [s]}
EOF
plan_maps "64 nodes" "$tmp/e64.yaml" --cluster "$tmp/c64.json"
grep -qF '<script' "$tmp/map.html" && fail "64 nodes: an argv's <script> is in the HTML unescaped"
grep -qF '<b>' "$tmp/map.html" && fail "64 nodes: a node name's <b> is in the HTML unescaped"
grep -qF '&lt;b&gt;n&amp;1&quot;&#39;&lt;/b&gt;' "$tmp/map.html" ||
  fail "64 nodes: the node name is not there escaped"
grep -qF 'data-count=' "$tmp/map.html" || fail "64 nodes: the idle nodes are not collapsed"
grep -qF '0.5 GPU' "$tmp/map.html" || fail "64 nodes: no GPU share shown"
grep -qF '<th>no GPU</th>' "$tmp/map.html" || fail "64 nodes: no column for the CPU-only worker"
"$python" - "$tmp/map.html" <<'EOF' 2>"$tmp/py" || fail "64 nodes: $(tail -n 3 "$tmp/py")"
import sys
html = open(sys.argv[1]).read()
rows = html.count("<tr data-node=") + html.count("<tr class=\"idle\"")
assert rows < 20, "64 nodes drawn in %d rows: idle ones should collapse" % rows
assert len(html) < 200_000, len(html)
EOF

# --- does not fit: exit 3, the map still written with the reason ---------------

printf 'name: x\nroles: [{name: a, scheduling_spec: {gpu: 16, cmd: [x]}}]\n' >"$tmp/fit.yaml"
rm -f "$tmp/map.html" "$tmp/map.svg"
run plan "$tmp/fit.yaml" --cluster examples/cluster4x8.json --html "$tmp/map.html" \
  --svg "$tmp/map.svg"
[ "$rc" -eq 3 ] || fail "infeasible: exit $rc, want 3"
[ -s "$tmp/out" ] && fail "infeasible: stdout is not empty"
grep -qF 'INFEASIBLE' "$tmp/err" || fail "infeasible: no reason on stderr"
for f in map.html map.svg; do
  grep -qF 'Not placed (INFEASIBLE)' "$tmp/$f" || fail "infeasible: $f lacks the group not placed"
  grep -qF 'never_fits: bundle 0: GPU needs 16, has 8' "$tmp/$f" ||
    fail "infeasible: $f lacks the nodes' verdicts"
done
"$python" -c "import xml.etree.ElementTree as ET, sys; ET.parse(sys.argv[1])" "$tmp/map.svg" ||
  fail "infeasible: the SVG does not parse"

# Bad input is not drawn: exit 2 and no file.
printf 'name: x\nroles: [{name: a, replica: 2}]\n' >"$tmp/bad.yaml"
rm -f "$tmp/map.html"
run plan "$tmp/bad.yaml" --html "$tmp/map.html"
[ "$rc" -eq 2 ] || fail "bad input: exit $rc, want 2"
[ -e "$tmp/map.html" ] && fail "bad input: a map was written"

# --- unwritable paths: exit 2, the path named, nothing on stdout ---------------

# expect_error NAME WANT ARGS...
expect_error() {
  name=$1
  want=$2
  shift 2
  run "$@"
  [ "$rc" -eq 2 ] || fail "$name: exit $rc, want 2; stderr: $(cat "$tmp/err")"
  [ -s "$tmp/out" ] && fail "$name: stdout is not empty"
  grep -qF -- "$want" "$tmp/err" || fail "$name: stderr lacks '$want': $(cat "$tmp/err")"
}
expect_error "missing folder" "--html $tmp/none/map.html: cannot write" \
  plan examples/demo.yaml --html "$tmp/none/map.html"
mkdir "$tmp/dir.svg"
expect_error "a folder" "--svg $tmp/dir.svg: is a folder" plan examples/demo.yaml --svg "$tmp/dir.svg"
expect_error "the same file" "--html and --svg both name $tmp/m" \
  plan examples/demo.yaml --html "$tmp/m" --svg "$tmp/m"
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
  expect_error "read-only folder" "--html $tmp/ro/map.html: cannot write" \
    plan examples/demo.yaml --html "$tmp/ro/map.html"
fi

# Written whole: a map replaced in place, no temporary file left beside it.
echo old >"$tmp/keep.html"
run plan examples/demo.yaml --html "$tmp/keep.html"
grep -qF '<!DOCTYPE html>' "$tmp/keep.html" || fail "replace: the old file is still there"
leftovers=$(find "$tmp" -name '.*.tmp.*' | head -n 3)
[ -z "$leftovers" ] || fail "temporary files left: $leftovers"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "plan_html_test: all checks passed"
