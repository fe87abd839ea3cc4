#!/bin/sh
# How long a failed rollout instance takes to be ready again under
# on_failure: restart (issue 14's target: under 1 s plus the backoff,
# locally). A `berth run` of 2 separate instances of the demo worker with an
# HTTP readiness check; instance 1 exits with code 3 RESTARTS times, 0.3 s
# after each start (--exit-after). Per restart, from events.jsonl: "failed"
# (berth saw the exit: its watch loop waits 20 ms at a time) to "restarted"
# (the unit ready again), minus the backoff it waited: what is left of the
# unit stopped, a new launch with new ports through the supervisor,
# readiness probed every 10 ms. Usage: bench/restart_latency.sh [RESTARTS]
#   (after ./scripts/build.sh; BUILD=DIR for another build directory)
set -eu
N=${1:-20}
cd "$(dirname "$0")/.."
B=${BUILD:-build}
BERTH=$(readlink -f "$B/berth")
WORKER=$(readlink -f "$B/berth-demo-worker")
T=$(mktemp -d /tmp/berth-restart-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
cat > "$T/exp.yaml" <<YAML
name: restarts
cluster: {gpus: 2, cpu: 4, mem: 1}
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec:
      - {gpu: 1, ports: [http], cmd: [$WORKER]}
      - {gpu: 1, ports: [http], cmd: [$WORKER, --exit-after, "0.3", --exit-code, "3"]}
    readiness: {http: {port: http, path: /health}}
    on_failure: restart
    restart: {max_restarts: $N, window_s: 3600, backoff_s: [0.05, 0.05]}
YAML
"$BERTH" run "$T/exp.yaml" --run-dir "$T/run" > "$T/out" 2>&1 || true
/usr/bin/python3 - "$T/run/events.jsonl" <<'PYEOF'
import datetime, json, statistics, sys
def t(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
events = [json.loads(l) for l in open(sys.argv[1])]
failed, waits, restart = None, 0.0, []
for e in events:
    if e["kind"] == "failed":
        failed = t(e["time"])
    elif e["kind"] == "restart_in":
        waits = e["wait_s"]
    elif e["kind"] == "restarted" and failed is not None:
        restart.append(t(e["time"]) - failed - waits)
if not restart:
    sys.exit("no restart recorded: " + open(sys.argv[1]).read())
ms = sorted(x * 1000 for x in restart)
print("restarts: %d (backoff 50 ms each, not counted)" % len(ms))
print("failed -> ready again, minus backoff: median %.0f ms, p90 %.0f ms, max %.0f ms"
      % (statistics.median(ms), ms[int(len(ms) * 0.9) - 1], ms[-1]))
PYEOF
