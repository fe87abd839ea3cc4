"""What the stand-ins of torchrun, vLLM and SGLang (tests/launchers) share.

They let berth's launch presets (docs/experiment.md, "Launch presets") run
where neither the tools nor GPUs are: each stand-in reads its argv with the
tool's own argument names (argparse, as the tools do), checks it as the tool
would, then meets the other processes of its world or instance at the
rendezvous address and port it was given, as torch's static rendezvous and
vLLM's and SGLang's multi-node start do. A wrong head, port, node rank or
node count fails here the way it hangs or fails in the real tool, but within
a deadline (STANDIN_TIMEOUT seconds, default 60) and with a message.

The rendezvous: one process hosts a TCP server on the port (torch: node 0's
agent, or rank 0 per rank; vLLM and SGLang: node rank 0); every member,
the host included, connects, sends one JSON line {"group", "id", ...} and
waits. When a group has all its members, the host checks that their ids
are 0..n-1, each once, and that they agree on the size, then answers every
member with the list of all of them.

With STANDIN_REPORT_DIR set, each process writes what it saw there (one
JSON file) once its rendezvous is done, for tests to read.
"""

import http.server
import json
import os
import signal
import socket
import sys
import threading
import time

TIMEOUT = float(os.environ.get("STANDIN_TIMEOUT", "60"))


def die(tool, message, code=2):
    print(f"{tool} (stand-in): error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def say(tool, message):
    print(f"{tool} (stand-in): {message}", flush=True)


def visible_devices():
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [d for d in value.split(",") if d]


def stop_on_term():
    """SIGTERM ends the process with 0, as the tools do on a stop."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


class Host:
    """The rendezvous server: groups of members, each group's size known
    when it is created or later (expect)."""

    def __init__(self, tool, port):
        self.tool = tool
        self.lock = threading.Condition()
        self.expected = {}
        self.members = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("0.0.0.0", port))
        except OSError as e:
            die(tool, f"cannot host the rendezvous on port {port}: {e}")
        self.sock.listen(256)
        threading.Thread(target=self._accept, daemon=True).start()

    def expect(self, group, count):
        with self.lock:
            self.expected[group] = count
            self._answer(group)

    def _accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._member, args=(conn,), daemon=True).start()

    def _member(self, conn):
        conn.settimeout(TIMEOUT)
        try:
            line = conn.makefile("r").readline()
            msg = json.loads(line)
        except (OSError, ValueError):
            conn.close()
            return
        with self.lock:
            self.members.setdefault(msg["group"], []).append((msg, conn))
            self._answer(msg["group"])

    def _answer(self, group):
        want = self.expected.get(group)
        got = self.members.get(group, [])
        if want is None or len(got) < want:
            return
        ids = sorted(m["id"] for m, _ in got)
        sizes = {m.get("size") for m, _ in got}
        error = None
        if ids != list(range(want)):
            error = f"group {group}: members {ids}, expected ids 0..{want - 1} once each"
        elif len(sizes) != 1 or sizes != {want}:
            error = f"group {group}: members disagree on the size: {sorted(map(str, sizes))}, host expects {want}"
        reply = {"error": error} if error else {"members": [m for m, _ in got]}
        for _, conn in got:
            try:
                conn.sendall((json.dumps(reply) + "\n").encode())
            except OSError:
                pass
            conn.close()
        self.members[group] = []


def join(tool, addr, port, group, member_id, size, **extra):
    """Joins `group` at addr:port; returns every member's message. Retries
    the connection until the deadline: the host may start later."""
    deadline = time.monotonic() + TIMEOUT
    msg = dict(extra, group=group, id=member_id, size=size)
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=1) as s:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.sendall((json.dumps(msg) + "\n").encode())
                line = s.makefile("r").readline()
            if not line:
                raise OSError("the host closed the connection")
            reply = json.loads(line)
            if reply.get("error"):
                die(tool, f"rendezvous at {addr}:{port}: {reply['error']}")
            return reply["members"]
        except (OSError, ValueError) as e:
            last = e
            time.sleep(0.1)
    die(tool, f"rendezvous at {addr}:{port} (group {group}, id {member_id} of {size}) not "
        f"complete within {TIMEOUT:g} s: {last} (a wrong head address or port, or a member "
        "that never came)", code=1)
    return []


def report(tool, name, view):
    folder = os.environ.get("STANDIN_REPORT_DIR")
    if not folder:
        return
    view = dict(view, tool=tool, argv=sys.argv, pid=os.getpid(), host=socket.gethostname(),
                worker=os.environ.get("BERTH_WORKER_ID", ""),
                devices=visible_devices())
    path = os.path.join(folder, f"{tool}.{name}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(view, f)
    os.rename(path + ".tmp", path)


def serve_health(tool, host, port, info):
    """Serves GET /health (200) and GET /standin (what the process saw) until
    SIGTERM."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                body, code = b"ok\n", 200
            elif self.path == "/standin":
                body, code = json.dumps(info).encode(), 200
            else:
                body, code = b"not found\n", 404
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        die(tool, f"cannot serve on {host}:{port}: {e}")
    say(tool, f"serving /health on {host}:{port}")
    server.serve_forever()
