#!/usr/bin/env python3
"""Times the Scheduler's operations through the Python module, the same cycle that
bench/scheduler_ops_bench.cc times through the C++ API, so that the two together give what
the Python layer (pybind11, JSON, dataclasses) costs per operation.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py \
        --workers 16 --runs 10 --demo-worker build/berth-demo-worker [--readiness tcp|none]

One cycle, on a fresh Scheduler per run (this machine, declared CPUs, no GPUs):
    create  create_workers(role "w": N demo workers, readiness tcp on port http, or none)
    get     get_workers("w")
    fork    fork_workers("f", "w")   (N more demo workers, the target's readiness)
    delete  delete_workers(None)     (the forks, then "w")
Output, one line per operation (the C++ program's format):
    op=<create|get|fork|delete> median_us=<N> runs=<R>
bench/python_overhead.sh runs both programs and prints them side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import berth

OPS = ("create", "get", "fork", "delete")


def cycle(demo: str, workers: int, readiness: str, log_dir: str) -> dict:
    job = berth.Job(
        role="w", replicas=workers, readiness=None if readiness == "none" else "tcp:http",
        tasks=[berth.SchedulingSpec(cpu=0.01, gpu=0, mem=0, ports=["http"], cmd=[demo])],
        startup_timeout=60)
    # One CPU per worker at least; the workers ask for 0.01 each.
    with berth.Scheduler(gpus=0, cpu=max(1, workers), mem=1, log_dir=log_dir, grace=5.0) as s:
        t = {}
        t0 = time.perf_counter()
        s.create_workers(job)
        t1 = time.perf_counter()
        got = s.get_workers("w")
        t2 = time.perf_counter()
        s.fork_workers("f", "w")
        t3 = time.perf_counter()
        s.delete_workers(None)
        t4 = time.perf_counter()
        assert len(got) == workers
        t["create"], t["get"], t["fork"], t["delete"] = t1 - t0, t2 - t1, t3 - t2, t4 - t3
        return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--demo-worker", default=os.environ.get("BERTH_DEMO_WORKER",
                                                            "build/berth-demo-worker"))
    ap.add_argument("--readiness", choices=("tcp", "none"), default="tcp")
    args = ap.parse_args()
    if args.workers < 1 or args.runs < 1:
        ap.error("--workers and --runs must be >= 1")
    demo = os.path.abspath(args.demo_worker)
    if not os.access(demo, os.X_OK):
        ap.error(f"{demo} is not executable; pass --demo-worker")
    samples = {op: [] for op in OPS}
    with tempfile.TemporaryDirectory(prefix="berth-bench-py-") as tmp:
        for r in range(args.runs):
            t = cycle(demo, args.workers, args.readiness, os.path.join(tmp, f"run{r}"))
            for op in OPS:
                samples[op].append(t[op])
    for op in OPS:
        med = statistics.median(samples[op]) * 1e6
        print(f"op={op} median_us={med:.0f} runs={args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
