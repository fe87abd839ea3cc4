#!/bin/sh
# How long `berth scale` takes to add two rollout instances, ready, to a
# running experiment (issue 15's target: within 1.2x of starting the same two
# worker processes on their own), side by side in one run, alternating, so
# that the shared machine's noise falls on all alike:
#   api:      POST /v1/roles/rollout/scale {"replicas": 4} on a run of 2 (the
#             demo worker, HTTP readiness), as a controller calls it, from the
#             request to the reply: placement of two groups, two launches
#             through the supervisor, readiness (probed after 1, 2, 4, 8, then
#             every 10 ms), state.json written; then back to 2 (not timed);
#   cli:      the same through `berth scale RUN rollout 4`, from the
#             command's start to its exit (its own process start added);
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
import http.client, json, os, socket, statistics, subprocess, sys, time, urllib.request
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

port = json.load(open(os.path.join(run, "control.json")))["port"]
token = open(os.path.join(run, "control.token")).read().strip()

def api_scale(k):
    """POST /v1/roles/rollout/scale, as a controller would call it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/roles/rollout/scale", body=json.dumps({"replicas": k}),
                 headers={"Authorization": "Bearer " + token,
                          "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    took = time.perf_counter() - t0
    conn.close()
    if r.status != 200:
        sys.exit(f"scale to {k}: HTTP {r.status}")
    return took

cli, api, base = [], [], []
for _ in range(n):
    base.append(baseline())
    api.append(api_scale(4))
    api_scale(2)
    cli.append(scale(4))
    scale(2)
m_base = statistics.median(base)
print(f"trials {n}")
for name, xs in (("control API POST .../scale, 2->4, ready", api),
                 ("berth scale 2->4 (the CLI), ready", cli),
                 ("two processes on their own", base)):
    m = statistics.median(xs)
    print(f"{name:42s} median {m*1000:5.1f} ms (min {min(xs)*1000:.1f}, max {max(xs)*1000:.1f}),"
          f" {m / m_base:.2f}x")
PYEOF
