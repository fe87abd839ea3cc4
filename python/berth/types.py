"""The data of berth's Python API, in AReaL's model and names (areal/api/cli_args.py,
areal/api/scheduler_api.py): SchedulingSpec, SchedulingStrategy, Job, Worker; and the
conversion of a Job into berth's role map (one element of the experiment file's `roles` list,
docs/experiment.md).
"""

from __future__ import annotations

import enum
import math
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import compat
from .errors import WorkerCreationError

__all__ = [
    "SchedulingSpec",
    "SchedulingStrategy",
    "SchedulingStrategyType",
    "Job",
    "Worker",
    "default_port_names",
    "role_map",
]

PLACEMENTS = ("shared", "separate", "deferred")


class SchedulingStrategyType(str, enum.Enum):
    """AReaL's SchedulingStrategyType: separation (the default) or colocation."""

    separation = "separation"
    colocation = "colocation"


def default_port_names(port_count: int) -> List[str]:
    """The port names berth gives a spec that has `port_count` but no `ports`: index 0 is
    "http" (AReaL's worker_ports[0], the RPC/HTTP port), index 1 "master" (rank 0's
    worker_ports[1] is then MASTER_PORT, as AReaL's TrainController expects), index i >= 2
    "port<i>"."""
    names = []
    for i in range(port_count):
        names.append("http" if i == 0 else "master" if i == 1 else f"port{i}")
    return names


@dataclass
class SchedulingSpec:
    """Per-worker resources and command (AReaL's SchedulingSpec).

    AReaL's fields, with AReaL's defaults:
      cpu=8            CPUs per worker (fractions allowed in berth, steps of 0.0001)
      gpu=0            GPUs per worker: whole, or below 1 for a share of one device
      mem=32           memory per worker, in GiB (AReaL says GB and multiplies by 1024**3: the
                       same bytes)
      port_count=2     how many ports each worker gets (ignored when `ports` is given)
      env_vars={}      extra environment, byte-exact (commas, '=', quotes, newlines are fine;
                       names berth sets itself, such as RANK or CUDA_VISIBLE_DEVICES, are refused)
      cmd=None         the worker's command: an argv list, or a string split with shlex (no
                       shell runs it). `{NAME}` in an argument is replaced by the worker's
                       variable NAME (e.g. "--port={BERTH_PORT_HTTP}"). None: AReaL's RPC
                       server, `python -m areal.infra.rpc.rpc_server` with the arguments
                       AReaL's LocalScheduler gives it (--port <first port>, --experiment-name,
                       --trial-name, --role, --worker-index, --name-resolve-type,
                       --nfs-record-root, --etcd3-addr, --fileroot); so does a cmd
                       `python -m areal.<module> [its own args, no --port]`. A python argv[0]
                       there is this interpreter (sys.executable), as in AReaL.
      additional_bash_cmds=None   bash lines run before the worker (one bash, `set -e`, then
                       exec of the worker's argv)
      nodelist=None, exclude=None   placement constraints (Slurm's --nodelist / --exclude):
                       not supported by berth's placement engine yet, so a value is a
                       WorkerCreationError naming the field (never silently ignored)
      image, task_type, srun_additional_args, container_type="apptainer", mount
                       AReaL's, with its defaults; like AReaL's LocalScheduler, the local
                       Scheduler does not read them (no container, no srun)
      ray_placement_strategy="shared"   shared | separate | deferred; all specs of a Job
                       must agree (berth moves it to the role: `placement`)
    berth's extra:
      ports=None       port names; None means `port_count` names from default_port_names()
                       ("http", "master", "port2", ...). Each worker gets one free port per
                       name, as BERTH_PORT_<NAME> and in Worker.ports / Worker.worker_ports.
      node_selector=None   node labels the worker's bundles need, Ray's syntax:
                       {"rack": "in(a,b)", "gpu_type": "!A100"} (docs/experiment.md, "Node
                       labels"); matched against the labels of the Scheduler's cluster nodes.
    Any object with these field names is accepted where a SchedulingSpec is (AReaL's own).
    """

    cpu: float = 8
    gpu: float = 0
    mem: float = 32
    port_count: int = 2
    image: str = "/storage/openpsi/images/areal-latest.sif"
    task_type: str = "worker"
    env_vars: Dict[str, str] = field(default_factory=dict)
    cmd: Union[str, List[str], None] = None
    srun_additional_args: str = "--unbuffered --mpi=pmi2 -K --chdir $PWD"
    additional_bash_cmds: Optional[List[str]] = None
    container_type: str = "apptainer"
    mount: str = "/storage:/storage"
    nodelist: Optional[str] = None
    exclude: Optional[str] = None
    ray_placement_strategy: str = "shared"
    ports: Optional[List[str]] = None
    node_selector: Optional[Dict[str, str]] = None

    def __post_init__(self) -> None:
        # AReaL #976: an unknown strategy is a ValueError at construction.
        if self.ray_placement_strategy not in PLACEMENTS:
            raise ValueError(
                f"ray_placement_strategy must be one of {', '.join(PLACEMENTS)}, "
                f"got {self.ray_placement_strategy!r}")

    def port_names(self) -> List[str]:
        """The names of this spec's ports, in worker_ports order."""
        if self.ports is not None:
            return list(self.ports)
        return default_port_names(self.port_count)

    def argv(self) -> Optional[List[str]]:
        """`cmd` as an argv list (a string is split with shlex); None when unset."""
        if self.cmd is None:
            return None
        if isinstance(self.cmd, str):
            return shlex.split(self.cmd)
        return [str(a) for a in self.cmd]


@dataclass
class SchedulingStrategy:
    """AReaL's SchedulingStrategy: type "separation" (default) or "colocation" onto `target`.

    With colocation, fork=True (default) starts one new worker per target worker in its
    bundle (same node, same GPUs, its own ports); fork=False makes the role an alias of the
    target (no process; get_workers returns the target's workers). Any other type is a
    ValueError, as in AReaL (which calls SchedulingStrategyType(type)).
    """

    type: str = "separation"
    target: Optional[str] = None
    fork: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        t = getattr(self.type, "value", self.type)  # AReaL's SchedulingStrategyType too
        try:
            SchedulingStrategyType(t)  # ValueError for anything else, as AReaL
        except ValueError:
            raise ValueError(f"scheduling strategy type {t!r} is not valid; allowed: "
                             "separation, colocation") from None
        self.type = t

    @property
    def colocated(self) -> bool:
        return self.type == "colocation"


@dataclass
class Job:
    """A role's workers, as create_workers wants them (AReaL's Job).

    AReaL's fields:
      role                 the role's name (1-64 of [A-Za-z0-9_.-])
      replicas=0           number of workers (0 is an error, as in AReaL)
      tasks=[]             1 SchedulingSpec for every worker, or exactly `replicas` of them
      scheduling_strategy  SchedulingStrategy() (separation)
    berth's extras:
      instance=None        (tp, pp) for an inference instance (rollout role): cpu and mem are
                           multiplied by tp*pp and gpu becomes tp*pp (when gpu > 0), as AReaL's
                           RolloutController does; placement shared turns into separate
      readiness=None       how berth knows a worker is up: None is AReaL's (GET /health on
                           the first port answers 2xx; started = ready for a spec without ports
                           or a launcher's default), "none" (started = ready),
                           "tcp:<port name>", "http:<port name><path>" (e.g.
                           "http:http/health": GET it, expect 2xx), or a dict in the role-map
                           shape ({"tcp": "http"} or {"http": {"port": "http", "path": "/h"}})
      startup_timeout=30.0 seconds create_workers waits for readiness (and get_workers'
                           default timeout)
      on_failure="fail"    what a worker failing later does (docs/experiment.md): "fail"
                           (get_workers raises WorkerFailedError), "restart" (its unit is
                           started again on the same GPUs with new ports; get_workers waits for
                           a restart due within its timeout and returns the new workers) or
                           "drop" (the unit is stopped; the role goes on with fewer)
      restart=None         with "restart": {"max_restarts": 3, "window_s": 3600,
                           "backoff_s": [1, 60]} (any of them); used up, WorkerFailedError
      min_replicas=None    with "restart" or "drop": instances that must stay alive
      launcher=None        a launch preset instead of the specs' cmd (docs/experiment.md,
                           "Launch presets"): {"kind": "torchrun" | "vllm" | "sglang",
                           "program": [...] (optional), "args": [...], "mode": "per-node" |
                           "per-rank" (torchrun)}; berth renders the tool's flags (node count
                           and rank, head address and port, tp and pp) from the placement
      topology=None        {"key": "rack", "mode": "require" | "prefer"}: each group of the role
                           (the gang of a shared role, each instance of a separate or deferred
                           one) on nodes sharing one value of that node label (docs/experiment.md,
                           "Topology")
    """

    role: str
    replicas: int = 0
    tasks: List[SchedulingSpec] = field(default_factory=list)
    scheduling_strategy: SchedulingStrategy = field(default_factory=SchedulingStrategy)
    instance: Optional[Tuple[int, int]] = None
    readiness: Union[None, str, Dict[str, Any]] = None
    startup_timeout: float = 30.0
    on_failure: str = "fail"
    restart: Optional[Dict[str, Any]] = None
    min_replicas: Optional[int] = None
    launcher: Optional[Dict[str, Any]] = None
    topology: Optional[Dict[str, str]] = None

    @property
    def is_alias(self) -> bool:
        s = self.scheduling_strategy
        return s.colocated and not s.fork


@dataclass
class Worker:
    """A worker berth started (AReaL's Worker, with berth's extra fields).

    AReaL's fields:
      id             "role/index" ("role/index.r" for node rank r of a multi-node instance)
      ip             the address of the worker's node (its own node, not the role's first)
      worker_ports   its ports as strings, in port-name order: [0] is the RPC/HTTP port and,
                     with default port names, rank 0's [1] is MASTER_PORT
      engine_ports   [] (no scheduler fills it, in AReaL either)
    berth's:
      role, index, node, gpus (device ids, ascending), gpu_fractions (only for shares of a
      device), ports ({name: port}), env (berth's variables and the spec's env_vars, in
      berth's order), argv, fork_of (the target worker, for forks), pid, phase ("starting",
      "ready", "exited", "failed", "stopped"), exit ("exited with code 3"), exit_status
      (-1 while it runs), restarts (relaunches: after a port conflict, or on_failure: restart), log_path
    """

    id: str
    ip: str
    worker_ports: List[str] = field(default_factory=list)
    engine_ports: List[str] = field(default_factory=list)
    role: str = ""
    index: int = 0
    node: str = ""
    gpus: List[int] = field(default_factory=list)
    gpu_fractions: Optional[List[float]] = None
    ports: Dict[str, int] = field(default_factory=dict)
    env: Dict[str, str] = field(default_factory=dict)
    argv: List[str] = field(default_factory=list)
    fork_of: Optional[str] = None
    pid: int = -1
    phase: str = ""
    exit: str = ""
    exit_status: int = -1
    restarts: int = 0
    log_path: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Worker":
        """A Worker from berth's worker object (src/scheduler/worker_json.h)."""
        return cls(
            id=d["id"],
            ip=d.get("ip", ""),
            worker_ports=list(d.get("worker_ports", [])),
            role=d.get("role", ""),
            index=d.get("index", 0),
            node=d.get("node", ""),
            gpus=list(d.get("gpus", [])),
            gpu_fractions=d.get("gpu_fractions"),
            ports=dict(d.get("ports", {})),
            env=dict(d.get("env", {})),
            argv=list(d.get("argv", [])),
            fork_of=d.get("fork_of"),
            pid=d.get("pid", -1),
            phase=d.get("phase", ""),
            exit=d.get("exit", ""),
            exit_status=d.get("exit_status", -1),
            restarts=d.get("restarts", 0),
            log_path=d.get("log_path", ""),
        )


# --- Job -> role map ------------------------------------------------------------------------


def _number(value: Any, what: str, role: str) -> Union[int, float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkerCreationError(role, f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise WorkerCreationError(role, f"{what} must be finite, got {value!r}")
    return value


def _readiness(value: Union[None, str, Mapping[str, Any]], role: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise WorkerCreationError(role, f"readiness must be a string or a dict, got {value!r}")
    if value == "none":
        return "none"
    kind, sep, rest = value.partition(":")
    if sep and kind == "tcp" and rest:
        return {"tcp": rest}
    if sep and kind == "http" and rest:
        port, slash, path = rest.partition("/")
        if port:
            return {"http": {"port": port, "path": "/" + path if slash else "/health"}}
    raise WorkerCreationError(
        role, f"readiness {value!r} is not understood; write none, tcp:<port name> or "
        "http:<port name>/<path> (e.g. http:http/health)")


def _command(spec: SchedulingSpec, where: str, role: str, launcher: bool,
             ctx: Optional["compat.RpcContext"]) -> Optional[List[str]]:
    """The worker's argv: the spec's cmd, AReaL's RPC server for none (and AReaL's arguments
    for `python -m areal.<module> [args]`), after its additional_bash_cmds."""
    argv = spec.argv()
    names = spec.port_names()
    found = (compat.RPC_SERVER_MODULE, []) if argv is None and not launcher else \
        compat.areal_module_of(argv)
    if found is not None:
        module, extra = found
        if not names:
            raise WorkerCreationError(
                role, f"{where}: AReaL's RPC server ({module}) needs a port, but the spec has "
                f"port_count {spec.port_count!r}; give port_count >= 1 (AReaL's default is 2) or "
                "a cmd of your own")
        argv = compat.rpc_server_argv(module, ctx or compat.RpcContext(), role, names[0], extra)
    cmds = spec.additional_bash_cmds
    if cmds is not None:
        if isinstance(cmds, str):
            cmds = [cmds]
        if not isinstance(cmds, list) or not all(isinstance(c, str) for c in cmds):
            raise WorkerCreationError(
                role, f"{where}.additional_bash_cmds must be a list of bash lines (strings), "
                f"got {spec.additional_bash_cmds!r}")
        if cmds and argv is not None:
            argv = compat.wrap_bash_cmds(argv, cmds)
        elif cmds:
            raise WorkerCreationError(
                role, f"{where}.additional_bash_cmds cannot run before a launcher preset's "
                "command; put them in the launcher's program instead")
    for name in ("nodelist", "exclude"):
        value = getattr(spec, name, None)
        if value:
            raise WorkerCreationError(
                role, f"{where}.{name} is {value!r}, but berth does not read Slurm host "
                "lists; give the nodes labels in the Scheduler's cluster and select them with "
                "node_selector (e.g. {\"pool\": \"in(a,b)\"}), or declare only the nodes "
                "you want")
    return argv


def _spec_map(spec: SchedulingSpec, where: str, role: str, launcher: bool = False,
              ctx: Optional["compat.RpcContext"] = None) -> Dict[str, Any]:
    if not isinstance(spec, SchedulingSpec):
        raise WorkerCreationError(role, f"{where} is {type(spec).__name__}, not a SchedulingSpec")
    port_count = spec.port_count
    if spec.ports is None and (isinstance(port_count, bool) or not isinstance(port_count, int)
                               or port_count < 0):
        raise WorkerCreationError(role, f"{where}.port_count must be an integer >= 0, "
                                  f"got {port_count!r}")
    argv = _command(spec, where, role, launcher, ctx)
    env = {}
    for k, v in (spec.env_vars or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise WorkerCreationError(
                role, f"{where}.env_vars: {k!r}: {v!r}: names and values must be strings")
        env[k] = v
    if "PYTHONPATH" not in env and compat.runs_areal_module(argv):
        # As AReaL: the worker imports what the controller can (spec env_vars win).
        env["PYTHONPATH"] = compat.areal_pythonpath()
    m: Dict[str, Any] = {
        "cpu": _number(spec.cpu, where + ".cpu", role),
        "gpu": _number(spec.gpu, where + ".gpu", role),
        "mem": _number(spec.mem, where + ".mem", role),
        "ports": spec.port_names(),
    }
    if argv is not None:
        m["cmd"] = argv  # beside a launcher: refused by berth, naming both
    if env:
        m["env_vars"] = env
    selector = getattr(spec, "node_selector", None)
    if selector:
        if not isinstance(selector, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in selector.items()):
            raise WorkerCreationError(
                role, f"{where}.node_selector must be a dict of label names to strings such as "
                f"\"in(a,b)\", got {selector!r}")
        m["node_selector"] = dict(selector)
    return m


def role_map(job: Any, ctx: Optional["compat.RpcContext"] = None) -> Dict[str, Any]:
    """The Job (a berth.Job, or any object with AReaL's Job fields) as berth's role map (one
    element of the experiment file's `roles`, docs/experiment.md), ready for json.dumps.
    `ctx`: the experiment and name-resolve arguments of AReaL's RPC server command. Raises
    TypeError for an object that is not a Job, ValueError for a bad strategy type and
    WorkerCreationError for what cannot be written (specs that disagree on
    ray_placement_strategy, a node constraint, ...). Counts and values are checked by berth
    itself when the role is created."""
    job = compat.as_job(job)
    role = job.role
    strategy = job.scheduling_strategy
    strategy.validate()
    m: Dict[str, Any] = {"name": role, "replicas": job.replicas}
    if strategy.colocated:
        if not strategy.target:
            raise WorkerCreationError(
                role, "scheduling_strategy: colocation needs a target role")
        m["scheduling_strategy"] = {"type": "colocation", "target": strategy.target,
                                    "fork": bool(strategy.fork)}
    else:
        m["scheduling_strategy"] = {"type": "separation"}
    if job.is_alias:
        # An alias starts nothing: no spec, readiness or timeout of its own.
        return m
    tasks = list(job.tasks)
    if not tasks:
        raise WorkerCreationError(
            role, "no scheduling specs: give Job.tasks one SchedulingSpec for every worker, "
            "or one per replica")
    if not strategy.colocated:
        placements = [t.ray_placement_strategy for t in tasks]
        for i, p in enumerate(placements):
            if p not in PLACEMENTS:
                raise WorkerCreationError(
                    role, f"tasks[{i}].ray_placement_strategy is {p!r}; allowed: "
                    + ", ".join(PLACEMENTS))
            if p != placements[0]:
                raise WorkerCreationError(
                    role, f"tasks[{i}].ray_placement_strategy is {p!r} but tasks[0]'s is "
                    f"{placements[0]!r}; all specs of a job must agree")
        m["placement"] = placements[0]
    if job.instance is not None:
        try:
            tp, pp = job.instance
        except (TypeError, ValueError):
            raise WorkerCreationError(role, f"instance must be (tp, pp), got {job.instance!r}")
        m["instance"] = {"tp": _number(tp, "instance.tp", role),
                         "pp": _number(pp, "instance.pp", role)}
    launcher = job.launcher
    if launcher is not None:
        if not isinstance(launcher, Mapping):
            raise WorkerCreationError(
                role, f"launcher must be a dict like {{'kind': 'vllm', 'args': ['/models/m']}}, "
                f"got {launcher!r}")
        # Kind, mode, program and args are checked by berth, naming the field.
        m["launcher"] = {k: (list(v) if isinstance(v, (list, tuple)) else v)
                         for k, v in launcher.items()}
    specs = [_spec_map(t, "tasks[0]" if len(tasks) == 1 else f"tasks[{i}]", role,
                       launcher is not None, ctx)
             for i, t in enumerate(tasks)]
    m["scheduling_spec"] = specs[0] if len(specs) == 1 else specs
    readiness = _readiness(job.readiness, role)
    if readiness is None and launcher is None and all(sp["ports"] for sp in specs):
        # AReaL's: a worker is ready when its RPC server answers GET /health.
        readiness = {"http": {"port": specs[0]["ports"][0], "path": "/health"}}
    if readiness is not None:
        m["readiness"] = readiness
    m["startup_timeout"] = _number(job.startup_timeout, "startup_timeout", role)
    # Checked by berth (allowed actions, the budget's keys and ranges).
    if job.on_failure != "fail":
        m["on_failure"] = job.on_failure
    if job.restart is not None:
        if not isinstance(job.restart, Mapping):
            raise WorkerCreationError(role, f"restart must be a dict like {{'max_restarts': 5}}, "
                                      f"got {job.restart!r}")
        m["restart"] = dict(job.restart)
    if job.min_replicas is not None:
        m["min_replicas"] = job.min_replicas
    topology = getattr(job, "topology", None)
    if topology is not None:
        if not isinstance(topology, Mapping):
            raise WorkerCreationError(role, f"topology must be a dict like {{'key': 'rack', "
                                      f"'mode': 'require'}}, got {topology!r}")
        m["topology"] = dict(topology)  # keys and mode are checked by berth, naming the field
    return m


def role_maps(jobs: Sequence[Job]) -> List[Dict[str, Any]]:
    return [role_map(j) for j in jobs]
