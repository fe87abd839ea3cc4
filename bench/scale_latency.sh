#!/bin/sh
# How long `berth scale` takes to add two rollout instances, ready, to a
# running experiment (issue 15's target: within 1.2x of starting the same two
# worker processes on their own), side by side in one run, alternating, so
# that the shared machine's noise falls on both alike:
#   scale:    `berth scale RUN rollout 4` on a run of 2 (the demo worker,
#             HTTP readiness), from the command's start to its exit: the
#             control API call, placement of two groups, two launches through
#             the supervisor, readiness probed every 10 ms; then back to 2
#             (not timed);
#   baseline: the same two demo workers started directly (subprocess) on two
#             free ports, /health polled every 5 ms until both answer.
# Usage: bench/scale_latency.sh [TRIALS] (after ./scripts/build.sh; BUILD=DIR
# for another build directory)
set -eu
N=${1:-20}
cd "$(dirname "$0")/.."
B=${BUILD:-build}
BERTH=$(readlink -f "$B/berth")
WORKER=$(readlink -f "$B/berth-demo-worker")
T=$(mktemp -d /tmp/berth-scale-bench.XXXXXX)
cat > "$T/exp.yaml" <<YAML
name: scalebench
cluster: {gpus: 8, cpu: 16, mem: 4}
roles:
  - name: rollout
    replicas: 2
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 1, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
YAML
"$BERTH" run "$T/exp.yaml" --run-dir "$T/run" > "$T/out" 2>&1 &
trap '"$BERTH" down "$T/run" > /dev/null 2>&1 || true; rm -rf "$T"' EXIT
/usr/bin/python3 - "$BERTH" "$WORKER" "$T/run" "$N" <<'PYEOF'
import json, os, socket, statistics, subprocess, sys, time, urllib.request
berth, worker, run, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        if json.load(open(os.path.join(run, "state.json")))["phase"] == "running":
            break
    except (OSError, ValueError):
        pass
    time.sleep(0.05)
else:
    sys.exit("the run did not come up")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.2) as r:
            return r.status == 200
    except OSError:
        return False

def baseline():
    ports = [free_port(), free_port()]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([worker], env=dict(os.environ, BERTH_PORT_HTTP=str(p),
                                                   BERTH_WORKER_ID=f"b/{i}"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i, p in enumerate(ports)]
    waiting = set(ports)
    while waiting:
        waiting = {p for p in waiting if not healthy(p)}
        if waiting:
            time.sleep(0.005)
    took = time.perf_counter() - t0
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    return took

def scale(k):
    t0 = time.perf_counter()
    subprocess.run([berth, "scale", run, "rollout", str(k)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0

ours, base = [], []
for _ in range(n):
    base.append(baseline())
    ours.append(scale(4))
    scale(2)
m_ours, m_base = statistics.median(ours), statistics.median(base)
print(f"trials {n}")
print(f"berth scale 2->4, ready:      median {m_ours*1000:.1f} ms (min {min(ours)*1000:.1f}, max {max(ours)*1000:.1f})")
print(f"two processes on their own:   median {m_base*1000:.1f} ms (min {min(base)*1000:.1f}, max {max(base)*1000:.1f})")
print(f"ratio of medians: {m_ours / m_base:.2f}")
PYEOF
