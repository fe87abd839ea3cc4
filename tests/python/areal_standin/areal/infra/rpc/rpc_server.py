"""A stand-in for AReaL's worker RPC server (areal/infra/rpc/rpc_server.py; areal.md §5.2),
for berth's tests: the same command line and endpoints, JSON payloads, engines imported by
path, and switches that make it misbehave.

    python -m areal.infra.rpc.rpc_server --port P --experiment-name E --trial-name T \\
        --role R --worker-index I [--host H] [--name-resolve-type ...] [--nfs-record-root ...] \\
        [--etcd3-addr ...] [--fileroot ...]

Endpoints (as AReaL's): GET /health, POST /alloc_ports, /set_env, /configure, /create_engine,
/call. Errors are {"status": "error", "error": text} (AReaL after #1019).

The stand-in's own:
    GET  /standin/info   {"args": the parsed command line, "pid", "env": os.environ,
                          "last_call": the JSON body of the last /call as it came,
                          "configured": {"rank", "config"} of the last /configure}
    STANDIN_CONFIGURE_FAIL=1 in the environment makes /configure answer 500.
    POST /standin/mode   {"mode": "ok" | "503" | "500" | "hang" | "die", "count": n}: the next
                         n engine requests (/create_engine, /call, /set_env) answer 503 or 500,
                         hang (never answer), or make the server exit with code 3 before
                         answering; count -1: every one. "ok" clears it.
    STANDIN_MODE / STANDIN_COUNT in the environment set the same at start;
    STANDIN_EXIT_AT_START=<code> makes it exit at once (a worker that dies at start-up).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from areal.infra.rpc.serialization import deserialize_value, serialize_value


class State:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engines: dict = {}
        self.lock = threading.Lock()  # engine work is serial, as AReaL's EngineWorker thread
        self.mode = os.environ.get("STANDIN_MODE", "ok")
        self.count = int(os.environ.get("STANDIN_COUNT", "-1"))
        self.allocated: set = set()
        self.last_call = None
        self.configured = None

    def take_mode(self) -> str:
        with self.lock:
            if self.mode == "ok" or self.count == 0:
                return "ok"
            if self.count > 0:
                self.count -= 1
            return self.mode


def _free_ports(n: int, exclude: set) -> list:
    out = []
    while len(out) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p not in exclude and p not in out:
            out.append(p)
    return out


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the worker log holds what matters
            pass

        def reply(self, code: int, obj) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            # Headers and body in one write: two small writes meet Nagle's algorithm and the
            # client's delayed ACK (40 ms a call).
            self._headers_buffer.append(b"\r\n" + body)
            self.flush_headers()

        def error(self, code: int, text: str) -> None:
            self.reply(code, {"status": "error", "error": text})

        def body(self):
            n = int(self.headers.get("Content-Length", "0"))
            return json.loads(self.rfile.read(n) or b"{}")

        def do_GET(self):
            if self.path == "/health":
                self.reply(200, {"status": "healthy", "engine_count": len(state.engines),
                                 "engines": sorted(state.engines)})
            elif self.path == "/standin/info":
                self.reply(200, {"args": vars(state.args), "pid": os.getpid(),
                                 "env": dict(os.environ), "last_call": state.last_call,
                                 "configured": state.configured})
            else:
                self.error(404, f"no such path {self.path}")

        def misbehave(self) -> bool:
            mode = state.take_mode()
            if mode == "ok":
                return False
            if mode == "503":
                self.error(503, "server busy (stand-in)")
            elif mode == "500":
                self.error(500, "internal error (stand-in)")
            elif mode == "hang":
                time.sleep(3600)
            elif mode == "die":
                print("stand-in: dying on request", flush=True)
                os._exit(3)
            return True

        def do_POST(self):
            try:
                req = self.body()
            except ValueError as e:
                return self.error(400, f"bad JSON: {e}")
            if self.path == "/standin/mode":
                with state.lock:
                    state.mode = req.get("mode", "ok")
                    state.count = int(req.get("count", -1))
                return self.reply(200, {"status": "success"})
            if self.path == "/alloc_ports":
                n = req.get("count")
                if not isinstance(n, int) or n <= 0:
                    return self.error(400, "count must be an int > 0")
                ports = _free_ports(n, state.allocated)
                state.allocated.update(ports)
                return self.reply(200, {"status": "success", "ports": ports, "host": "127.0.0.1"})
            if self.path == "/configure":
                if "config" not in req or "rank" not in req:
                    return self.error(400, "Missing 'config' or 'rank' field in request")
                if os.environ.get("STANDIN_CONFIGURE_FAIL"):
                    return self.error(500, "configure failed (stand-in)")
                state.configured = {"rank": req["rank"], "config": req["config"]}
                return self.reply(200, {"status": "success"})
            if self.path in ("/set_env", "/create_engine", "/call") and self.misbehave():
                return None
            if self.path == "/set_env":
                env = req.get("env")
                if not isinstance(env, dict):
                    return self.error(400, "env must be an object")
                for k, v in env.items():
                    os.environ[str(k)] = str(v)
                return self.reply(200, {"status": "success"})
            if self.path == "/create_engine":
                return self.create_engine(req)
            if self.path == "/call":
                return self.call(req)
            return self.error(404, f"no such path {self.path}")

        def create_engine(self, req):
            for key in ("engine", "engine_name", "init_args", "init_kwargs"):
                if key not in req:
                    return self.error(400, f"Missing '{key}' field in request")
            path, name = req["engine"], req["engine_name"]
            if not isinstance(path, str) or "." not in path:
                return self.error(400, f"engine must be a string import path, got {path!r}")
            with state.lock:
                if name in state.engines:
                    return self.error(400, f"Engine '{name}' already exists")
                mod, _, cls_name = path.rpartition(".")
                try:
                    cls = getattr(importlib.import_module(mod), cls_name)
                except (ImportError, AttributeError) as e:
                    return self.error(400, f"Failed to import engine '{path}': {e}")
                try:
                    state.engines[name] = cls(*deserialize_value(req["init_args"]),
                                              **deserialize_value(req["init_kwargs"]))
                except Exception as e:  # the engine's constructor failed
                    return self.error(500, f"Failed to initialize engine: {e!r}")
            return self.reply(200, {"status": "success", "result": None})

        def call(self, req):
            state.last_call = req
            name = req.get("engine_name")
            method = req.get("method")
            with state.lock:
                engine = state.engines.get(name)
                if engine is None:
                    return self.error(404, f"Engine '{name}' not found")
                fn = getattr(engine, method or "", None)
                if not callable(fn):
                    return self.error(400, f"Engine does not have method '{method}'")
                try:
                    result = fn(*deserialize_value(req.get("args", [])),
                                **deserialize_value(req.get("kwargs", {})))
                except Exception as e:
                    return self.error(500, f"Engine method '{method}' failed: {e!r}")
            return self.reply(200, {"status": "success", "result": serialize_value(result)})

    return Handler


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--experiment-name", required=True)
    p.add_argument("--trial-name", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--worker-index", type=int, default=-1)
    p.add_argument("--name-resolve-type", default="nfs")
    p.add_argument("--nfs-record-root", default="/tmp/areal/name_resolve")
    p.add_argument("--etcd3-addr", default="localhost:2379")
    p.add_argument("--fileroot", default=None)
    p.add_argument("--werkzeug-log-level", default="warning")
    args = p.parse_args(argv)
    if args.worker_index < 0:
        p.error("--worker-index is required")
    if os.environ.get("STANDIN_EXIT_AT_START"):
        print("stand-in: exiting at start as asked", flush=True)
        return int(os.environ["STANDIN_EXIT_AT_START"])
    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state))
    server.daemon_threads = True
    print(f"stand-in rpc server {args.role}/{args.worker_index} on port "
          f"{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
