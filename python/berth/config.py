"""The keyword arguments of AReaL's LocalScheduler and SlurmScheduler, as berth.Scheduler
takes them (areal.md §6), and what berth makes of them.

    LocalScheduler:  gpu_devices, log_dir, startup_timeout, health_check_interval,
                     experiment_name, trial_name, fileroot, name_resolve_type,
                     nfs_record_root, etcd3_addr, exp_config
    SlurmScheduler:  n_gpus_per_node, cluster_name, container_type, container_mounts,
                     srun_additional_args, enable_tms_offload (and the names above)

An `exp_config` (AReaL's experiment config, or any object with its field names) wins over
the arguments, as in AReaL: experiment_name, trial_name, cluster.fileroot,
cluster.n_gpus_per_node, cluster.cluster_name and cluster.name_resolve (type,
nfs_record_root, etcd3_addr). Any other keyword is a TypeError naming it.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .compat import RpcContext

__all__ = ["ArealOptions", "areal_options", "AREAL_KWARGS"]

# Keyword -> AReaL's default (None: not given).
AREAL_KWARGS: Dict[str, Any] = {
    "gpu_devices": None,
    "startup_timeout": None,
    "health_check_interval": None,
    "experiment_name": None,
    "trial_name": None,
    "fileroot": None,
    "name_resolve_type": "nfs",
    "nfs_record_root": "/tmp/areal/name_resolve",
    "etcd3_addr": "localhost:2379",
    "exp_config": None,
    "n_gpus_per_node": None,
    "cluster_name": None,
    "container_type": None,
    "container_mounts": None,
    "srun_additional_args": None,
    "enable_tms_offload": None,
}


@dataclass
class ArealOptions:
    """What berth keeps of AReaL's constructor arguments."""

    rpc: RpcContext = field(default_factory=RpcContext)
    gpus: Optional[int] = None  # from gpu_devices
    startup_timeout: Optional[float] = None
    health_check_interval: Optional[float] = None
    n_gpus_per_node: Optional[int] = None
    cluster_name: Optional[str] = None
    fileroot_given: bool = False
    exp_config: Any = None  # configured into AReaL RPC servers (POST /configure)

    def default_log_dir(self) -> Optional[str]:
        """AReaL's {fileroot}/logs/{user}/{experiment}/{trial}, when a fileroot was given."""
        if not self.fileroot_given:
            return None
        return os.path.join(str(self.rpc.fileroot), "logs", getpass.getuser(),
                            self.rpc.experiment_name, self.rpc.trial_name)


def _attr(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if obj is None:
            return None
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return obj


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or "/" in value:
        raise ValueError(f"{what} must be a non-empty name without '/', got {value!r}")
    return value


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{what} must be seconds > 0, got {value!r}")
    return float(value)


def _gpu_count(devices: Any) -> int:
    if isinstance(devices, (str, bytes)) or not hasattr(devices, "__iter__"):
        raise ValueError(f"gpu_devices must be a list of GPU ids, got {devices!r}")
    ids: List[int] = list(devices)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ValueError(f"gpu_devices must be a list of GPU ids (ints), got {devices!r}")
    if ids != list(range(len(ids))):
        raise ValueError(
            f"gpu_devices={ids!r}: berth places workers on GPUs 0..n-1 of this machine and "
            "cannot use a subset of other ids yet; give gpu_devices=list(range(n)) (or gpus=n), "
            "or set CUDA_VISIBLE_DEVICES for the whole process so that the GPUs you want are "
            "0..n-1")
    return len(ids)


def areal_options(kwargs: Dict[str, Any]) -> ArealOptions:
    """AReaL's constructor keywords checked and merged (exp_config wins). Raises TypeError
    for an unknown keyword, ValueError for a bad value or one berth cannot honour."""
    unknown = sorted(k for k in kwargs if k not in AREAL_KWARGS)
    if unknown:
        raise TypeError(
            "Scheduler() got unexpected keyword argument(s) " + ", ".join(repr(k) for k in unknown)
            + "; berth's are cluster, gpus, cpu, mem, log_dir, grace, expected_jobs, groups, and "
            "AReaL's " + ", ".join(AREAL_KWARGS))
    a = dict(AREAL_KWARGS)
    a.update(kwargs)
    exp = a["exp_config"]
    if exp is not None:
        for key, path in (("experiment_name", "experiment_name"), ("trial_name", "trial_name"),
                          ("fileroot", "cluster.fileroot"),
                          ("n_gpus_per_node", "cluster.n_gpus_per_node"),
                          ("cluster_name", "cluster.cluster_name"),
                          ("name_resolve_type", "cluster.name_resolve.type"),
                          ("nfs_record_root", "cluster.name_resolve.nfs_record_root"),
                          ("etcd3_addr", "cluster.name_resolve.etcd3_addr"),
                          ("enable_tms_offload", "enable_offload")):
            v = _attr(exp, path)
            if v is not None:
                a[key] = v
        for key in ("experiment_name", "trial_name"):
            if a[key] is None:
                raise ValueError(f"exp_config has no {key}; AReaL's schedulers require one")
    o = ArealOptions()
    o.exp_config = exp
    rpc = o.rpc
    if a["experiment_name"] is not None:
        rpc.experiment_name = _name(a["experiment_name"], "experiment_name")
    if a["trial_name"] is not None:
        rpc.trial_name = _name(a["trial_name"], "trial_name")
    if a["fileroot"] is not None:
        rpc.fileroot = os.fspath(a["fileroot"])
        o.fileroot_given = True
    if a["name_resolve_type"] not in ("nfs", "etcd3", "ray"):
        raise ValueError(f"name_resolve_type must be nfs, etcd3 or ray, got "
                         f"{a['name_resolve_type']!r}")
    rpc.name_resolve_type = a["name_resolve_type"]
    rpc.nfs_record_root = str(a["nfs_record_root"])
    rpc.etcd3_addr = str(a["etcd3_addr"])
    if a["gpu_devices"] is not None:
        o.gpus = _gpu_count(a["gpu_devices"])
    if a["startup_timeout"] is not None:
        o.startup_timeout = _seconds(a["startup_timeout"], "startup_timeout")
    if a["health_check_interval"] is not None:
        o.health_check_interval = _seconds(a["health_check_interval"], "health_check_interval")
    n = a["n_gpus_per_node"]
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"n_gpus_per_node must be an int > 0, got {n!r}")
        o.n_gpus_per_node = n
    o.cluster_name = a["cluster_name"]
    # SlurmScheduler's: berth.Scheduler runs workers on this machine, without containers or
    # srun; a value that asks for them is an error rather than silently ignored.
    if a["container_type"] not in (None, "none"):
        raise ValueError(
            f"container_type={a['container_type']!r}: berth.Scheduler runs workers on this "
            "machine without a container; give container_type='none' (berth's Slurm backend, "
            "`berth run` with backend slurm, is where containers belong)")
    for key in ("container_mounts", "srun_additional_args"):
        if a[key] not in (None, ""):
            raise ValueError(f"{key}={a[key]!r}: berth.Scheduler runs workers on this machine, "
                             "not through srun or a container; leave it unset")
    if a["enable_tms_offload"]:
        raise ValueError(
            "enable_tms_offload: berth does not inject torch_memory_saver's LD_PRELOAD yet; "
            "set LD_PRELOAD and TMS_INIT_ENABLE=1 in the specs' env_vars instead")
    return o


def detected_gpus() -> int:
    """The GPUs of this machine as berth counts them without NVML: /dev/nvidia<N>."""
    try:
        return sum(1 for n in os.listdir("/dev") if re.fullmatch(r"nvidia[0-9]+", n))
    except OSError:
        return 0
