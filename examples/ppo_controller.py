#!/usr/bin/env python3
"""An example controller: does to its workers what AReaL's PPO trainer does, with berth as the
scheduler, engine calls included.

    PYTHONPATH=build/python /usr/bin/python3 examples/ppo_controller.py \\
        [--areal-path tests/python/areal_standin] [--steps 3]

The workers run AReaL's RPC server (a SchedulingSpec with no cmd: `python -m
areal.infra.rpc.rpc_server` with LocalScheduler's arguments). Without AReaL installed, the
stand-in of it that berth's tests ship (tests/python/areal_standin: the same command line and
endpoints, and toy engines) is put on the workers' PYTHONPATH; --areal-path names another
directory (e.g. an AReaL checkout) and --train-engine / --infer-engine other engine classes.
Every process runs on this machine, with 8 declared GPUs and no GPU touched.

As PPOTrainer with its RolloutController and TrainController, it
  1. creates "rollout" (2 instances, 1 GPU each), creates an inference engine on each server
     (create_engine) and forks a proxy next to each (fork_workers with AReaL's proxy module);
  2. creates "actor" (2 ranks, 1 GPU each), gives each rank RANK, WORLD_SIZE, MASTER_ADDR and
     MASTER_PORT (rank 0's ip and worker_ports[1]) with set_worker_env, creates its train
     engine and checks what each rank sees;
  3. creates "ref", colocated on the actor (fork: same GPUs, no resources of its own), and its
     engine;
  4. runs --steps PPO steps: generate on every rollout server at once (async_call_engine),
     reference log-probs (call_engine on ref), a train step on each actor rank with its share
     of the batch, then the new weights' version to every rollout server;
  5. tears down as AReaL does: the proxies, ref, the actor (reverse_order=True: rank 0, the
     TCPStore owner, last), the rollout servers.

It prints what it does and exits 1 on any mismatch (2 on a berth error).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import berth

REPO = Path(__file__).resolve().parents[1]
STANDIN = REPO / "tests" / "python" / "areal_standin"
PROXY_MODULE = "areal.experimental.openai.proxy.proxy_rollout_server"
PROMPTS = ["1+1=", "capital of France?", "sort [3,1,2]", "2*3=", "hello", "prime after 7?"]


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


def spec(areal_path: str, gpu: int, placement: str = "shared") -> berth.SchedulingSpec:
    # AReaL's fields only; cmd None is AReaL's RPC server.
    return berth.SchedulingSpec(cpu=1, gpu=gpu, mem=2, env_vars={"PYTHONPATH": areal_path},
                                ray_placement_strategy=placement)


async def rollout_step(s: berth.Scheduler, servers, prompts):
    """Generation on every rollout server at once, as RolloutController dispatches."""
    shards = [prompts[i::len(servers)] for i in range(len(servers))]
    outs = await asyncio.gather(*(s.async_call_engine(w.id, "generate", None, shard)
                                  for w, shard in zip(servers, shards)))
    return [o for out in outs for o in out]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--areal-path", default=str(STANDIN),
                    help="directory with the `areal` package for the workers (default: the "
                         "stand-in in tests/python/areal_standin)")
    ap.add_argument("--train-engine", default="standin_engine.EchoEngine")
    ap.add_argument("--infer-engine", default="standin_engine.EchoEngine")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--log-dir", default=None, help="workers' logs (default: ./berth-runs/...)")
    args = ap.parse_args()
    areal_path = os.path.abspath(args.areal_path)
    c = Checker()
    with berth.Scheduler(gpus=8, cpu=16, mem=32, log_dir=args.log_dir, grace=2.0,
                         experiment_name="ppo-example", trial_name="trial0") as s:
        print(f"this machine, declared 8 GPUs; n_gpus_per_node={s.n_gpus_per_node}; "
              f"payloads: {berth.engine_rpc.serializer()}; logs in {s.log_dir}")

        # 1. Rollout first, as PPOTrainer initialises it before the actor.
        ids = s.create_workers(berth.Job(role="rollout", replicas=2,
                                         tasks=[spec(areal_path, 1, "separate")]))
        servers = s.get_workers("rollout")
        print(f"create_workers(rollout) -> {ids}")
        for w in servers:
            asyncio.run(s.create_engine(w.id, args.infer_engine, None, model="toy-rollout"))
            print(f"  {w.id}: http://{w.ip}:{w.worker_ports[0]} GPUs {w.gpus}, engine created")
        ids = s.fork_workers("proxy-rollout", "rollout", PROXY_MODULE)
        print(f"fork_workers(proxy-rollout, rollout, {PROXY_MODULE}) -> {ids}")
        for srv, p in zip(servers, s.get_workers("proxy-rollout")):
            c.eq(f"{p.id} GPUs", p.gpus, srv.gpus)
            c.eq(f"{p.id} fork_of", p.fork_of, srv.id)

        # 2. The training role; MASTER_ADDR/PORT as TrainController takes them.
        ids = s.create_workers(berth.Job(role="actor", replicas=2, tasks=[spec(areal_path, 1)]))
        ranks = s.get_workers("actor")
        master_addr, master_port = ranks[0].ip, ranks[0].worker_ports[1]
        print(f"create_workers(actor) -> {ids}; MASTER_ADDR={master_addr} "
              f"MASTER_PORT={master_port}")
        for i, w in enumerate(ranks):
            env = {"RANK": str(i), "WORLD_SIZE": str(len(ranks)), "MASTER_ADDR": master_addr,
                   "MASTER_PORT": master_port, "LOCAL_RANK": "0"}
            asyncio.run(s.set_worker_env(w.id, env))
            asyncio.run(s.create_engine(w.id, args.train_engine, None, model="toy-actor"))
            for k, v in env.items():
                c.eq(f"{w.id} {k}", s.call_engine(w.id, "getenv", None, k), v)
            c.eq(f"{w.id} CUDA_VISIBLE_DEVICES", s.call_engine(w.id, "getenv", None,
                                                               "CUDA_VISIBLE_DEVICES"),
                 ",".join(map(str, w.gpus)))

        # 3. The reference model on the actor's GPUs (AReaL's fork spec: no own resources).
        ids = s.create_workers(berth.Job(
            role="ref", replicas=2, tasks=[spec(areal_path, 1)],
            scheduling_strategy=berth.SchedulingStrategy(type="colocation", target="actor")))
        refs = s.get_workers("ref")
        print(f"create_workers(ref, colocated on actor) -> {ids}")
        for a, r in zip(ranks, refs):
            asyncio.run(s.create_engine(r.id, args.train_engine, None, model="toy-ref"))
            c.eq(f"{r.id} GPUs", r.gpus, a.gpus)

        # 4. PPO steps.
        for step in range(1, args.steps + 1):
            samples = asyncio.run(rollout_step(s, servers, PROMPTS))
            batch = {"completions": [x["completion"] for x in samples],
                     "rewards": [x["reward"] for x in samples]}
            logp = s.call_engine(refs[0].id, "compute_logp", None, batch)
            c.eq(f"step {step} ref logp count", len(logp), len(PROMPTS))
            stats = [s.call_engine(w.id, "train_batch", None,
                                   {"rewards": batch["rewards"][i::len(ranks)]})
                     for i, w in enumerate(ranks)]
            c.eq(f"step {step} samples trained", sum(x["n"] for x in stats), len(PROMPTS))
            for w in servers:  # the new weights' version, as update_weights
                s.call_engine(w.id, "set_version", None, step)
            versions = [s.call_engine(w.id, "get_version") for w in servers]
            c.eq(f"step {step} rollout versions", versions, [step] * len(servers))
            print(f"  step {step}: {len(samples)} samples, loss "
                  f"{sum(x['loss'] for x in stats) / len(stats):.3f}, version {versions[0]}")

        # 5. Teardown, AReaL's order.
        for role, kw in (("proxy-rollout", {}), ("ref", {}), ("actor", {"reverse_order": True}),
                         ("rollout", {})):
            pids = [w.pid for w in s.get_workers(role)]
            s.delete_workers(role, **kw)
            c.eq(f"{role} processes left after delete_workers",
                 [p for p in pids if running(p)], [])
            print(f"delete_workers({role}) stopped {len(pids)} process(es)")
        c.eq("roles left", s.roles(), [])

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
