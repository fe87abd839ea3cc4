#!/bin/sh
# The control API of a real `berth run` under attack (docs/control-api.md,
# "Limits"): 8 idle and 32 slow-loris connections (a header byte every 200 ms)
# held open while a client asks for the status, and while `berth down` stops
# the run. Asserts that the status is answered within 100 ms of its time
# without them (medians of 10), that `berth down` works promptly and berth
# exits 0, and that nothing is left: no connection open, no worker, no
# control file.
# Usage: control_attack_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-control-attack
. "$(dirname "$0")/run_test_lib.sh"

cat > "$T/exp.yaml" <<YAML
name: attack
cluster: {gpus: 1, cpu: 2, mem: 2}
roles:
  - name: actor
    replicas: 1
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, ports: [http], cmd: [$WORKER]}
    readiness: {http: {port: http, path: /health}}
YAML
BERTH_TEST_MARK="$MARK" "$BERTH" run "$T/exp.yaml" --run-dir "$T/run" > "$T/run.out" 2> "$T/run.err" &
BPID=$!
if wait_phase "$T/run" running 150; then ok "berth run is running"; else fail "never running: $(cat "$T/run.err")"; fi

cat > "$T/attack.py" <<'PYEOF'
import http.client, json, os, socket, statistics, subprocess, sys, threading, time

run_dir, berth, mark = sys.argv[1], sys.argv[2], sys.argv[3]
address = json.load(open(run_dir + "/control.json"))
port, pid = address["port"], address["pid"]
token = open(run_dir + "/control.token").read().strip()
fails = 0

def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    fails += 0 if cond else 1

def status_ms():
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/v1/status", headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError("status answered %d: %s" % (r.status, body[:200]))
    return (time.monotonic() - start) * 1000

def median_status():
    return statistics.median(status_ms() for _ in range(10))

def berth_sockets():
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return n

def wait_until(cond, seconds):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True

sockets_before = berth_sockets()
base = median_status()
idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(8)]
slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(32)]
drip = b"GET /v1/status HTTP/1.1\r\nX-Slow: " + b"a" * 1000
stop = threading.Event()
dripping = threading.Event()

def attack():
    pos = 0
    while not stop.is_set() and pos < len(drip):
        for s in slow:
            try:
                s.send(drip[pos:pos + 1])
            except OSError:
                pass  # dropped by the server: counted at the end
        pos += 1
        dripping.set()
        stop.wait(0.2)

attacker = threading.Thread(target=attack)
attacker.start()
# The attack is in place once berth holds all 40 connections and the drip began.
check(wait_until(lambda: berth_sockets() >= sockets_before + 40 and dripping.is_set(), 10),
      "berth accepted the 40 connections (%d sockets, %d before)" % (berth_sockets(), sockets_before))
attacked = median_status()
check(attacked - base < 100,
      "status with 8 idle and 32 slow clients: median %.1f ms, %.1f ms without" % (attacked, base))

# berth down while they all stay.
start = time.monotonic()
down = subprocess.run([berth, "down", run_dir], env=dict(os.environ, BERTH_TEST_MARK=mark),
                      capture_output=True, text=True, timeout=60)
took = time.monotonic() - start
check(down.returncode == 0 and "SIGTERM" not in down.stderr,
      "berth down through the API: rc %d %s" % (down.returncode, down.stderr.strip()[-300:]))
check(took < 10, "berth down took %.2f s with 40 clients holding connections" % took)
stop.set()
attacker.join()

# Every connection was closed by berth: each reads its end (or a reset).
def closed(s):
    s.settimeout(5)
    try:
        while True:
            if not s.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except OSError:
        return False

left = [i for i, s in enumerate(idle + slow) if not closed(s)]
check(not left, "berth closed all 40 connections (open: %s)" % left)
sys.exit(1 if fails else 0)
PYEOF
if $PY "$T/attack.py" "$T/run" "$BERTH" "$MARK"; then :; else fail "the attack script failed"; fi

# berth exits promptly: its pid is gone (no need for wait's blocking: a
# deadline), then its exit code.
i=0
while [ -d "/proc/$BPID" ] && [ "$(cut -d' ' -f3 "/proc/$BPID/stat" 2>/dev/null)" != Z ] && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
if [ $i -lt 100 ]; then ok "berth run exited"; else fail "berth run still runs 10 s after berth down"; kill -9 $BPID; fi
wait $BPID
rc=$?
[ $rc -eq 0 ] && ok "berth run exited 0" || fail "berth run exited $rc: $(tail -5 "$T/run.err")"
if wait_unmarked 50; then ok "no worker process left"; else fail "left: $(marked)"; fi
[ ! -e "$T/run/control.token" ] && [ ! -e "$T/run/control.json" ] && ok "control.token and control.json removed" \
  || fail "control files left: $(ls "$T/run")"

if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all control API attack tests passed"
