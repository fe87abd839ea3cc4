"""Look-alikes of AReaL's own data classes (areal/api/cli_args.py, scheduler_api.py): other
classes than berth's, with AReaL's field names and defaults, as an AReaL controller passes
them. berth must take them by their fields (duck typing), not by isinstance."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

STANDIN = str(Path(__file__).resolve().parent / "areal_standin")


class SchedulingStrategyType(str, enum.Enum):
    separation = "separation"
    colocation = "colocation"


@dataclass
class SchedulingStrategy:
    type: SchedulingStrategyType = SchedulingStrategyType.separation
    target: Optional[str] = None
    fork: bool = True


@dataclass
class SchedulingSpec:
    cpu: int = 8
    gpu: int = 0
    mem: int = 32
    port_count: int = 2
    image: str = "/storage/openpsi/images/areal-latest.sif"
    task_type: str = "worker"
    env_vars: Dict[str, str] = field(default_factory=dict)
    cmd: Optional[str] = None
    srun_additional_args: str = "--unbuffered --mpi=pmi2 -K --chdir $PWD"
    additional_bash_cmds: Optional[List[str]] = None
    container_type: str = "apptainer"
    mount: str = "/storage:/storage"
    nodelist: Optional[str] = None
    exclude: Optional[str] = None
    ray_placement_strategy: str = "shared"


@dataclass
class Job:
    role: str
    replicas: int = 0
    tasks: List[SchedulingSpec] = field(default_factory=list)
    scheduling_strategy: SchedulingStrategy = field(default_factory=SchedulingStrategy)


def rpc_spec(**kw) -> SchedulingSpec:
    """A small AReaL spec whose workers run the stand-in RPC server (cmd None: berth's
    default, AReaL's rpc_server module, found on PYTHONPATH)."""
    kw.setdefault("cpu", 1)
    kw.setdefault("mem", 1)
    env = dict(kw.pop("env_vars", {}))
    env.setdefault("PYTHONPATH", STANDIN)
    return SchedulingSpec(env_vars=env, **kw)


@dataclass
class NameResolve:
    type: str = "nfs"
    nfs_record_root: str = "/tmp/areal/name_resolve"
    etcd3_addr: str = "localhost:2379"


@dataclass
class Cluster:
    fileroot: str = "/tmp/areal/"
    n_gpus_per_node: int = 8
    cluster_name: str = "local"
    name_resolve: NameResolve = field(default_factory=NameResolve)


@dataclass
class ExpConfig:
    experiment_name: Optional[str] = "exp"
    trial_name: Optional[str] = "trial0"
    cluster: Cluster = field(default_factory=Cluster)
    enable_offload: bool = False
