#!/usr/bin/env python3
"""call_engine's round trip against a bare http.client on the same worker: what berth's engine
RPC layer (worker lookup, retry policy, payload encoding, error mapping) costs per call.

    PYTHONPATH=build/python /usr/bin/python3 bench/engine_rpc_overhead.py \\
        [--calls 2000] [--rounds 5] [--payload-items 0]

One worker of role "w" runs the stand-in of AReaL's RPC server (tests/python/areal_standin,
started by berth with AReaL's command line) with an EchoEngine. Each round times --calls
calls of `echo` both ways, side by side (berth, bare, bare, berth, ... alternating by round
so that neither always runs first):
    berth   Scheduler.call_engine("w/0", "echo", None, *args)
    bare    http.client.HTTPConnection (keep-alive, as berth's) POST /call with the same JSON
            body, json.loads of the answer, its "result"
    bare1   the same with headers and body sent in one write, as berth's connection does
            (plain http.client writes them separately): berth against it is the cost of
            berth's layer alone
Output, one line per client and the ratios (medians over the rounds):
    client=<berth|bare|bare1> median_us=<per call> rounds=<R> calls=<N>
    ratio=<berth / bare>
    ratio_one_write=<berth / bare1>
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import berth
from berth import engine_rpc

STANDIN = str(Path(__file__).resolve().parents[1] / "tests" / "python" / "areal_standin")


# A bare http.client that, like berth's client, sends headers and body in one
# write: the same connection class, so that only berth's own work differs.
OneWrite = engine_rpc._Connection  # pylint: disable=protected-access


def time_berth(s: berth.Scheduler, calls: int, args: list) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        s.call_engine("w/0", "echo", None, *args)
    return (time.perf_counter() - t) / calls


def time_bare(conn: http.client.HTTPConnection, calls: int, args: list) -> float:
    body = {"method": "echo", "engine_name": "w/0", "args": args, "kwargs": {},
            "rpc_meta": None}
    headers = {"Content-Type": "application/json"}
    t = time.perf_counter()
    for _ in range(calls):
        conn.request("POST", "/call", json.dumps(body).encode(), headers)
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"bare client: HTTP {r.status}")
        json.loads(r.read())["result"]
    return (time.perf_counter() - t) / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--payload-items", type=int, default=0,
                    help="a list of this many ints as the call's argument (default: none)")
    a = ap.parse_args()
    args = [list(range(a.payload_items))] if a.payload_items else []
    with tempfile.TemporaryDirectory(prefix="berth-rpc-bench-") as tmp, \
            berth.Scheduler(cpu=2, mem=2, gpus=0, log_dir=tmp, grace=1.0) as s:
        s.create_workers(berth.Job(role="w", replicas=1, tasks=[berth.SchedulingSpec(
            cpu=1, mem=1, env_vars={"PYTHONPATH": STANDIN})]))
        w = s.get_workers("w")[0]
        asyncio.run(s.create_engine(w.id, "standin_engine.EchoEngine"))
        port = int(w.worker_ports[0])
        conn = http.client.HTTPConnection(w.ip, port, timeout=60)
        conn1 = OneWrite(w.ip, port, timeout=60)
        time_berth(s, 50, args)  # warm them up
        time_bare(conn, 50, args)
        time_bare(conn1, 50, args)
        runs = {"berth": [], "bare": [], "bare1": []}
        order = list(runs)
        for r in range(a.rounds):
            for name in order[r % 3:] + order[:r % 3]:  # each goes first in turn
                runs[name].append(time_berth(s, a.calls, args) if name == "berth" else
                                  time_bare(conn if name == "bare" else conn1, a.calls, args))
        conn.close()
        conn1.close()
    med = {k: statistics.median(v) for k, v in runs.items()}
    for name in order:
        print(f"client={name} median_us={med[name] * 1e6:.1f} rounds={a.rounds} calls={a.calls}")
    print(f"ratio={med['berth'] / med['bare']:.3f}")
    print(f"ratio_one_write={med['berth'] / med['bare1']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
