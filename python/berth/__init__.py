"""berth: places and runs the worker groups of RL jobs (training ranks, inference instances,
forked helpers) on this machine, with AReaL's scheduler API.

    import berth

    with berth.Scheduler(gpus=8, cpu=16, mem=64) as s:
        s.create_workers(berth.Job(
            role="actor", replicas=2,
            tasks=[berth.SchedulingSpec(cpu=1, gpu=1, mem=4, cmd=["python3", "train.py"])],
            readiness="tcp:http"))
        rank0 = s.get_workers("actor")[0]
        master = (rank0.ip, rank0.worker_ports[1])   # MASTER_ADDR, MASTER_PORT

What is here (docs/python.md has all of it):
    Scheduler       create_workers, get_workers, delete_workers, fork_workers, n_gpus_per_node
                    and the engine calls create_engine, set_worker_env, call_engine,
                    async_call_engine (AReaL's; engine_rpc.py speaks AReaL's worker RPC
                    protocol), plus close, workers, roles, warnings, plan
    plan            the dry run: where every worker would go, nothing started
    Job, SchedulingSpec, SchedulingStrategy, Worker      AReaL's data, with berth's extras
                    (AReaL's own objects are taken too, by their field names)
    SchedulerError and its subclasses                    AReaL's exceptions, plus PlacementError

The C++ extension berth._core does the work (placement engine, process supervisor); this
package is the AReaL-shaped layer over it.
"""

from . import engine_rpc, errors
from .errors import *  # noqa: F401,F403 (its __all__: AReaL's exceptions)
from .scheduler import Scheduler, plan
from .types import (
    Job,
    SchedulingSpec,
    SchedulingStrategy,
    SchedulingStrategyType,
    Worker,
    default_port_names,
    role_map,
)

__all__ = [
    "Scheduler",
    "plan",
    "Job",
    "SchedulingSpec",
    "SchedulingStrategy",
    "SchedulingStrategyType",
    "Worker",
    "default_port_names",
    "role_map",
] + errors.__all__

__version__ = "0.1.0"
