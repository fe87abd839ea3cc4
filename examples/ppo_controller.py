#!/usr/bin/env python3
"""An example controller: does to its workers what AReaL's PPO trainer does, with berth.

    PYTHONPATH=build/python /usr/bin/python3 examples/ppo_controller.py \
        [--demo-worker build/berth-demo-worker]

On a declared cluster of two emulated nodes (2 x 8 GPUs; every process runs on this machine
and touches no GPU, the demo worker only serves HTTP), it

  1. creates the rollout instances, as AReaL's RolloutController does: "rollout-big", one
     instance of tp=4 x pp=3 = 12 GPUs, more than a node has, placed `deferred` (one process
     per node: NNODES, NODE_RANK, the head's address and rendezvous port), and "rollout", two
     separate instances of 1 GPU;
  2. creates the training role "actor" (2 ranks, 1 GPU each, `shared`), as AReaL's
     TrainController does, and takes MASTER_ADDR / MASTER_PORT from rank 0's Worker (ip,
     worker_ports[1]), exactly as TrainController does;
  3. creates the reference model "ref", colocated on the actor with fork=True (declared to the
     Scheduler up front, so that its CPUs and memory are reserved in the actor's bundles);
  4. forks a proxy next to each rollout instance (fork_workers, as RolloutController.start_proxy);
  5. checks, by asking every worker over HTTP for the environment it actually got (the demo
     worker's GET /env), that ranks, MASTER_ADDR/PORT, node ranks and GPUs agree with the
     Worker objects;
  6. tears down in AReaL's order: forks and colocated roles before their targets.

It prints what it does and exits 1 on any mismatch (2 on a berth error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import berth

CLUSTER = {
    "nodes": [
        {"name": f"node{i}", "resources": {"CPU": 32, "GPU": 8, "memory": 64 << 30}}
        for i in range(2)
    ]
}


def default_demo_worker() -> str:
    env = os.environ.get("BERTH_DEMO_WORKER")
    if env:
        return env
    return str(Path(__file__).resolve().parents[1] / "build" / "berth-demo-worker")


def get_json(ip: str, port: str, path: str) -> dict:
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=2) as r:
                return json.loads(r.read().decode("utf-8"))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.checks = 0

    def eq(self, what: str, got, want) -> None:
        self.checks += 1
        if got != want:
            self.failures.append(f"{what}: got {got!r}, want {want!r}")
            print(f"  MISMATCH {what}: got {got!r}, want {want!r}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-worker", default=default_demo_worker(),
                    help="path of berth-demo-worker (default: $BERTH_DEMO_WORKER or "
                         "build/berth-demo-worker)")
    ap.add_argument("--log-dir", default=None, help="workers' logs (default: ./berth-runs/...)")
    args = ap.parse_args()
    demo = os.path.abspath(args.demo_worker)
    if not os.access(demo, os.X_OK):
        print(f"error: {demo} is not an executable berth-demo-worker; build it or pass "
              "--demo-worker", file=sys.stderr)
        return 2

    def spec(cpu, gpu, mem, strategy="shared"):
        return berth.SchedulingSpec(cpu=cpu, gpu=gpu, mem=mem, cmd=[demo],
                                    ray_placement_strategy=strategy)

    health = "http:http/health"
    rollout_big = berth.Job(role="rollout-big", replicas=1, instance=(4, 3), readiness=health,
                            tasks=[spec(1, 1, 1, "deferred")], startup_timeout=20)
    rollout = berth.Job(role="rollout", replicas=2, instance=(1, 1), readiness=health,
                        tasks=[spec(1, 1, 1, "separate")], startup_timeout=20)
    actor = berth.Job(role="actor", replicas=2, readiness=health, tasks=[spec(2, 1, 2)],
                      startup_timeout=20)
    ref = berth.Job(role="ref", replicas=2, readiness=health, tasks=[spec(1, 0, 1)],
                    scheduling_strategy=berth.SchedulingStrategy(type="colocation",
                                                                 target="actor", fork=True),
                    startup_timeout=20)
    c = Checker()
    with berth.Scheduler(cluster=CLUSTER, log_dir=args.log_dir, grace=2.0,
                         expected_jobs=[ref]) as s:
        print(f"cluster: 2 emulated nodes x 8 GPUs; logs in {s.log_dir}")

        # 1. Rollout first, as PPOTrainer initialises it before the actor.
        ids = s.create_workers(rollout_big)
        print(f"create_workers(rollout-big, tp=4 pp=3 deferred) -> {ids}")
        big = s.get_workers("rollout-big")
        c.eq("rollout-big processes", len(big), 2)
        c.eq("rollout-big nodes", sorted(w.node for w in big), ["node0", "node1"])
        c.eq("rollout-big GPUs", sorted(len(w.gpus) for w in big), [4, 8])
        head = big[0]
        for rank, w in enumerate(big):
            env = get_json(w.ip, w.worker_ports[0], "/env")
            c.eq(f"{w.id} NNODES", env.get("NNODES"), "2")
            c.eq(f"{w.id} NODE_RANK", env.get("NODE_RANK"), str(rank))
            c.eq(f"{w.id} head address", env.get("BERTH_HEAD_ADDR"), head.ip)
            c.eq(f"{w.id} head port", env.get("BERTH_HEAD_PORT"), str(head.ports["rendezvous"]))
            c.eq(f"{w.id} tp x pp", (env.get("BERTH_TP"), env.get("BERTH_PP")), ("4", "3"))
            c.eq(f"{w.id} CUDA_VISIBLE_DEVICES", env.get("CUDA_VISIBLE_DEVICES"),
                 ",".join(map(str, w.gpus)))
            print(f"  {w.id}: node {w.node} GPUs {w.gpus} NODE_RANK {env.get('NODE_RANK')}")

        ids = s.create_workers(rollout)
        print(f"create_workers(rollout, 2 separate instances) -> {ids}")
        servers = s.get_workers("rollout")
        for w in servers:
            addr = f"http://{w.ip}:{w.worker_ports[0]}"  # what RolloutController uses
            c.eq(f"{w.id} /health at {addr}",
                 get_json(w.ip, w.worker_ports[0], "/health").get("id"), w.id)
            print(f"  {w.id}: {addr} node {w.node} GPUs {w.gpus}")

        # 2. The training role; MASTER_ADDR/PORT as TrainController takes them.
        ids = s.create_workers(actor)
        print(f"create_workers(actor, 2 ranks shared) -> {ids}")
        ranks = s.get_workers("actor")
        master_addr, master_port = ranks[0].ip, ranks[0].worker_ports[1]
        print(f"  MASTER_ADDR={master_addr} MASTER_PORT={master_port} (rank 0's ip, "
              "worker_ports[1])")
        for i, w in enumerate(ranks):
            env = get_json(w.ip, w.worker_ports[0], "/env")
            c.eq(f"{w.id} RANK", env.get("RANK"), str(i))
            c.eq(f"{w.id} WORLD_SIZE", env.get("WORLD_SIZE"), "2")
            c.eq(f"{w.id} MASTER_ADDR", env.get("MASTER_ADDR"), master_addr)
            c.eq(f"{w.id} MASTER_PORT", env.get("MASTER_PORT"), master_port)
            print(f"  {w.id}: node {w.node} GPU {w.gpus} RANK {env.get('RANK')}")

        # 3. The reference model on the actor's GPUs.
        ids = s.create_workers(ref)
        print(f"create_workers(ref, colocated on actor, fork) -> {ids}")
        for a, r in zip(ranks, s.get_workers("ref")):
            env = get_json(r.ip, r.worker_ports[0], "/env")
            c.eq(f"{r.id} fork_of", r.fork_of, a.id)
            c.eq(f"{r.id} node", r.node, a.node)
            c.eq(f"{r.id} CUDA_VISIBLE_DEVICES", env.get("CUDA_VISIBLE_DEVICES"),
                 a.env["CUDA_VISIBLE_DEVICES"])
            print(f"  {r.id}: next to {a.id} on {r.node}, GPU {r.gpus}")

        # 4. A proxy next to each rollout server.
        ids = s.fork_workers("proxy-rollout", "rollout")
        print(f"fork_workers(proxy-rollout, rollout) -> {ids}")
        for srv, p in zip(servers, s.get_workers("proxy-rollout")):
            c.eq(f"{p.id} GPUs", p.gpus, srv.gpus)
            c.eq(f"{p.id} /health", get_json(p.ip, p.worker_ports[0], "/health").get("id"), p.id)

        for warning in s.warnings():
            print(f"  warning: {warning}")

        # 6. Teardown: what is colocated goes before its target.
        for role in ["proxy-rollout", "ref", "actor", "rollout", "rollout-big"]:
            pids = [w.pid for w in s.get_workers(role)]
            s.delete_workers(role)
            c.eq(f"{role} processes left after delete_workers",
                 [p for p in pids if running(p)], [])
            print(f"delete_workers({role}) stopped {len(pids)} process(es)")
        c.eq("roles left", s.roles(), [])
        c.eq("workers left", len(s.workers()), 0)

    if c.failures:
        print(f"FAILED: {len(c.failures)} of {c.checks} checks")
        return 1
    print(f"OK: {c.checks} checks")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except berth.SchedulerError as e:
        print(f"berth error ({e.code}): {e}", file=sys.stderr)
        sys.exit(2)
