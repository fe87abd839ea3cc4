"""AReaL's objects and commands on berth: duck typing of Job / SchedulingSpec /
SchedulingStrategy (any object with AReaL's field names, AReaL's own dataclasses and OmegaConf
configs included), and the command line AReaL's LocalScheduler gives its RPC server.

    as_job(obj)         a berth.Job from a berth.Job, or any object (or mapping) with AReaL's
                        Job fields (role, replicas, tasks, scheduling_strategy) and, optionally,
                        berth's extras
    rpc_server_argv(module, ctx, port_name)
                        [python, "-m", module, "--port", "{BERTH_PORT_<PORT>}", ...]: AReaL's
                        LocalScheduler arguments, the worker index taken from BERTH_WORKER_ID
                        when the worker starts
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["RPC_SERVER_MODULE", "RpcContext", "areal_pythonpath", "as_job", "as_spec",
           "as_strategy",
           "is_module_name", "rpc_server_argv", "areal_module_of", "wrap_bash_cmds"]

# AReaL's RPC server module, the default worker command (areal.md §2.4, §6.1).
RPC_SERVER_MODULE = "areal.infra.rpc.rpc_server"

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def is_module_name(text: str) -> bool:
    """Whether `text` is a dotted Python module name (AReaL's fork `command`)."""
    return bool(_MODULE.match(text))


def _get(obj: Any, name: str, default: Any) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _has_any(obj: Any, names: Sequence[str]) -> bool:
    if isinstance(obj, Mapping):
        return any(n in obj for n in names)
    return any(hasattr(obj, n) for n in names)


def _fields(cls) -> List[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _convert(obj: Any, cls, what: str, required: Sequence[str]):
    if isinstance(obj, cls):
        return obj
    names = _fields(cls)
    if obj is None or isinstance(obj, (str, bytes, int, float)) or not _has_any(obj, names):
        raise TypeError(f"expected a {what} (an object with AReaL's {what} fields: "
                        f"{', '.join(names)}), got {type(obj).__name__}: {obj!r}")
    missing = [n for n in required if not _has_any(obj, [n])]
    if missing:
        raise TypeError(f"{what} {obj!r} lacks the field(s) {', '.join(missing)}")
    kw: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = _get(obj, f.name, dataclasses.MISSING)
        if v is dataclasses.MISSING:
            continue
        kw[f.name] = v
    return cls, kw


def as_strategy(obj: Any):
    """A berth.SchedulingStrategy from any object with AReaL's fields (type, target, fork);
    the type may be AReaL's SchedulingStrategyType (any str enum) or a string."""
    from .types import SchedulingStrategy

    if obj is None:
        return SchedulingStrategy()
    got = _convert(obj, SchedulingStrategy, "SchedulingStrategy", ())
    if not isinstance(got, tuple):
        return got
    cls, kw = got
    t = kw.get("type", "separation")
    kw["type"] = getattr(t, "value", t)
    return cls(**kw)


def as_spec(obj: Any):
    """A berth.SchedulingSpec from any object with AReaL's SchedulingSpec fields; a field the
    object lacks gets AReaL's default."""
    from .types import SchedulingSpec

    got = _convert(obj, SchedulingSpec, "SchedulingSpec", ())
    if not isinstance(got, tuple):
        return got
    cls, kw = got
    for name in ("env_vars",):
        if kw.get(name) is not None and not isinstance(kw[name], dict):
            kw[name] = dict(kw[name])  # e.g. an OmegaConf DictConfig
    cmds = kw.get("additional_bash_cmds")
    if cmds is not None and not isinstance(cmds, (list, str)):
        kw["additional_bash_cmds"] = list(cmds)  # e.g. an OmegaConf ListConfig
    return cls(**kw)


def as_job(obj: Any):
    """A berth.Job from a berth.Job or any object with AReaL's Job fields (role, replicas,
    tasks, scheduling_strategy); each task and the strategy are converted as well."""
    from .types import Job

    got = _convert(obj, Job, "Job", ("role",))
    if not isinstance(got, tuple):
        job = got
        tasks = job.tasks
        strategy = job.scheduling_strategy
        kw = None
    else:
        cls, kw = got
        tasks = kw.get("tasks", [])
        strategy = kw.get("scheduling_strategy")
    if tasks is None:
        tasks = []
    if isinstance(tasks, (str, bytes)) or not hasattr(tasks, "__iter__"):
        raise TypeError(f"Job.tasks must be a list of SchedulingSpec, got {tasks!r}")
    specs = [as_spec(t) for t in tasks]
    strat = as_strategy(strategy)
    if kw is None:
        if all(a is b for a, b in zip(specs, job.tasks)) and strat is job.scheduling_strategy:
            return job
        return dataclasses.replace(job, tasks=specs, scheduling_strategy=strat)
    kw["tasks"] = specs
    kw["scheduling_strategy"] = strat
    return cls(**kw)


@dataclasses.dataclass
class RpcContext:
    """What AReaL's LocalScheduler passes its RPC server (areal.md §6.1)."""

    experiment_name: str = "berth"
    trial_name: str = "trial"
    name_resolve_type: str = "nfs"
    nfs_record_root: str = "/tmp/areal/name_resolve"
    etcd3_addr: str = "localhost:2379"
    fileroot: str = "/tmp/areal/"

    def args(self, role: str) -> List[str]:
        return ["--experiment-name", self.experiment_name, "--trial-name", self.trial_name,
                "--role", role,
                "--name-resolve-type", self.name_resolve_type,
                "--nfs-record-root", self.nfs_record_root,
                "--etcd3-addr", self.etcd3_addr,
                "--fileroot", str(self.fileroot)]


def _placeholder_safe(text: str) -> str:
    """`text` with berth's placeholder braces escaped ("{" -> "{{")."""
    return text.replace("{", "{{").replace("}", "}}")


def python_executable() -> str:
    """The python that runs AReaL commands: this interpreter, as AReaL's sys.executable."""
    return sys.executable


def _index_wrapper(argv: List[str]) -> List[str]:
    # The worker index is the last part of BERTH_WORKER_ID ("role/3"; "role/3.1" for a node
    # rank): berth has no per-worker placeholder for it, so a shell works it out and execs.
    script = ('i=$(basename "$BERTH_WORKER_ID"); exec "$@" --worker-index "${i%%.*}"')
    return ["/bin/sh", "-c", _placeholder_safe(script), "sh"] + argv


def rpc_server_argv(module: str, ctx: RpcContext, role: str, port_name: str,
                    extra: Sequence[str] = ()) -> List[str]:
    """AReaL's worker command for `module`: python -m module [extra...] --port <first port>
    and LocalScheduler's arguments, --worker-index from the worker's id."""
    port = "{BERTH_PORT_" + port_name.upper().replace("-", "_") + "}"
    argv = [python_executable(), "-m", module] + [_placeholder_safe(a) for a in extra] + \
        ["--port", port] + [_placeholder_safe(a) for a in ctx.args(role)]
    return _index_wrapper(argv)


def areal_module_of(argv: Optional[List[str]]) -> Optional[Tuple[str, List[str]]]:
    """(module, its own arguments) of an AReaL-style command `python... -m areal.<module>
    [args]` (AReaL appends its scheduler's arguments to it), else None. Such a command may not
    name --port itself (AReaL refuses it too), else it is run as given."""
    if not argv or len(argv) < 3:
        return None
    prog = argv[0].rsplit("/", 1)[-1]
    if prog.startswith("python") and argv[1] == "-m" and argv[2].startswith("areal.") \
            and is_module_name(argv[2]) and "{" not in " ".join(argv) \
            and not any(a == "--port" or a.startswith("--port=") for a in argv[3:]):
        return argv[2], list(argv[3:])
    return None


def areal_pythonpath() -> str:
    """The PYTHONPATH AReaL gives its workers (get_env_vars): the current directory, this
    interpreter's sys.path (zip entries left out) and the PYTHONPATH it was started with, in
    that order, each once."""
    import os

    seen: List[str] = []
    parts = [os.getcwd()] + [p or os.getcwd() for p in sys.path if not p.endswith(".zip")]
    parts += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    for p in parts:
        if p not in seen:
            seen.append(p)
    return os.pathsep.join(seen)


def runs_areal_module(argv: Optional[List[str]]) -> bool:
    """Whether argv (as rpc_server_argv writes it) runs a module with `python -m areal...`
    or any other module with AReaL's RPC server arguments."""
    if not argv:
        return False
    return any(a == "-m" for a in argv) and "--experiment-name" in argv


def wrap_bash_cmds(argv: List[str], cmds: Sequence[str]) -> List[str]:
    """argv run after the bash lines `cmds` (AReaL's additional_bash_cmds), in one bash that
    execs the worker: a failing line stops the worker from starting (set -e)."""
    lines = "\n".join(_placeholder_safe(str(c)) for c in cmds)
    return ["/bin/bash", "-c", "set -e\n" + lines + '\nexec "$@"', "bash"] + list(argv)

