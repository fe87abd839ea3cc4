"""berth.Scheduler: AReaL's scheduler API (create_workers, get_workers, delete_workers,
fork_workers) on berth's placement engine and process supervisor, and berth.plan, the dry run.

The work is done by the C++ extension berth._core; this layer turns AReaL's Job into berth's
role map, berth's JSON back into Worker objects, and _core.Error into AReaL's exceptions.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import weakref
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

from . import compat
from .config import areal_options, detected_gpus
from .engine_rpc import EngineCalls, EngineRPC
from .errors import SchedulerError, WorkerCreationError, WorkerNotFoundError, from_core
from .types import Job, Worker, role_map

try:
    from . import _core
except ImportError as e:  # pragma: no cover - only without the built extension
    _core = None
    _core_import_error: Optional[ImportError] = e
else:
    _core_import_error = None

__all__ = ["Scheduler", "plan"]

logger = logging.getLogger("berth")

PathLike = Union[str, "os.PathLike[str]"]
Cluster = Union[None, Dict[str, Any], PathLike]


def _core_module():
    if _core is None:
        raise ImportError(
            "berth._core (the C++ extension) is missing: build it with "
            "`ninja -C <build> berth_python` and put <build>/python on PYTHONPATH"
        ) from _core_import_error
    return _core


def _cluster_json(cluster: Cluster) -> str:
    """The cluster argument as `berth place` JSON text ("" for this machine)."""
    if cluster is None:
        return ""
    if isinstance(cluster, dict):
        return json.dumps(cluster, ensure_ascii=False)
    if isinstance(cluster, (str, os.PathLike)):
        with open(cluster, encoding="utf-8") as f:
            return f.read()
    raise TypeError(f"cluster must be None, a dict or the path of a JSON file, "
                    f"got {type(cluster).__name__}")


def _declared(gpus: Optional[int], cpu: Optional[float], mem: Optional[float]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, value in (("gpus", gpus), ("cpu", cpu), ("mem", mem)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if name == "gpus" and value != int(value):
            raise ValueError(f"gpus must be a whole number, got {value!r}")
        out[name] = int(value) if name == "gpus" else value
    return out


def _dumps(obj: Any) -> str:
    # UTF-8 as is: berth reads JSON with a YAML parser, and non-ASCII text stays byte-exact
    # this way (no \\u surrogate pairs to undo).
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def _experiment(jobs: Iterable[Job], name: str, declared: Dict[str, Any]) -> Dict[str, Any]:
    e: Dict[str, Any] = {"name": name}
    if declared:
        e["cluster"] = declared
    e["roles"] = [role_map(j) for j in jobs]
    return e


def plan(jobs: Union[Job, Sequence[Job]], cluster: Cluster = None, gpus: Optional[int] = None,
         cpu: Optional[float] = None, mem: Optional[float] = None,
         name: str = "plan") -> Dict[str, Any]:
    """The dry run: where every worker of these jobs (in order, targets before the roles
    colocated on them) would go, as the document of `berth plan --json` (docs/experiment.md):
    {"experiment", "groups", "workers" (node, GPUs, ports, env, argv of each), "aliases",
    "warnings"}. Nothing is started.

    The cluster: `cluster` (a dict or the path of a JSON file in `berth place` format), else
    this machine, with `gpus`, `cpu` and `mem` (GiB) declared instead of detected where given.
    With a cluster, ports are counted from 30000 on each node, so the same jobs give the same
    plan; on this machine they are real free ports.

    Raises PlacementError when a role does not fit (with the engine's explanation),
    WorkerCreationError for invalid jobs, ValueError for a bad strategy type. AReaL has no
    dry run.
    """
    if not isinstance(jobs, (list, tuple)):
        jobs = [jobs]  # one Job (berth's or AReaL's)
    declared = _declared(gpus, cpu, mem)
    if cluster is not None and declared:
        raise ValueError("give either cluster or gpus/cpu/mem, not both")
    core = _core_module()
    text = _dumps(_experiment(jobs, name, declared))
    try:
        return json.loads(core.plan(text, _cluster_json(cluster)))
    except core.Error as e:
        raise from_core(e, "plan", name) from None


# Schedulers still open, closed at interpreter exit.
_open: "weakref.WeakSet[Scheduler]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for s in list(_open):
        try:
            s.close()
        except Exception:  # pragma: no cover - best effort at exit
            logger.exception("berth: closing a scheduler at exit failed")


class Scheduler(EngineCalls):
    """Places and runs the worker groups of roles on this machine (AReaL's Scheduler).

    Scheduler(cluster=None, gpus=None, cpu=None, mem=None, log_dir=None, grace=5.0,
              expected_jobs=())

      cluster       None: this machine, as node "local" (`gpus`, `cpu`, `mem` in GiB declare
                    what it has instead of detecting it, like the experiment file's
                    `cluster: {gpus, cpu, mem}`). Or a cluster in `berth place` format, as a
                    dict or the path of a JSON file: {"nodes": [{"name", "resources": {"CPU",
                    "GPU", "memory" (bytes)}, "labels": {...}}]}; its nodes are emulated on
                    this machine (every worker runs here; a node's "address" label must be a
                    loopback address, and defaults to 127.0.0.1).
      log_dir       where each worker's log (<role>.<index>.log) and merged.log go; default
                    a fresh ./berth-runs/python-<YYYYmmdd-HHMMSS>-<pid>/logs
      grace         seconds between SIGTERM and SIGKILL when workers are stopped
      expected_jobs Jobs that will be created later: a role forked onto a target
                    (colocation, fork=True) adds its cpu and mem to the target's bundles,
                    and a placed bundle cannot grow, so name such roles here before creating
                    their target.

    Workers run under berth's supervisor process: when this Python process ends in any way
    (close(), interpreter exit, an exception, SIGKILL) every worker is stopped with it.
    close() (or the `with` block, or interpreter exit) deletes every worker.

    AReaL's constructor keywords are taken too (berth/config.py): those of LocalScheduler
    (gpu_devices, startup_timeout, health_check_interval, experiment_name, trial_name,
    fileroot, name_resolve_type, nfs_record_root, etcd3_addr, exp_config) and of
    SlurmScheduler (n_gpus_per_node, cluster_name; container_type, container_mounts,
    srun_additional_args and enable_tms_offload only unset, as this Scheduler runs workers
    here without containers). exp_config wins over them, as in AReaL. An unknown keyword is
    a TypeError naming it.

    Differences from AReaL:
      - create_workers waits until every worker is ready (by default AReaL's GET /health on
        its first port, bounded by the Job's startup_timeout), and a failing call leaves
        nothing behind;
      - get_workers never waits without bound: timeout=None is the role's startup_timeout;
      - fork_workers also takes an argv list as command (berth's), besides AReaL's module name;
      - a spec's cmd other than `python -m areal.<module> [args]` is run as given ({NAME}
        placeholders replaced), without AReaL's arguments appended;
      - every method is safe to call from several threads (one at a time per Scheduler;
        waiting calls release the GIL, so other threads keep running).
    Engine calls (create_engine, set_worker_env, call_engine, async_call_engine) speak
    AReaL's worker RPC protocol (berth/engine_rpc.py).
    """

    def __init__(self, cluster: Cluster = None, gpus: Optional[int] = None,
                 cpu: Optional[float] = None, mem: Optional[float] = None,
                 log_dir: Optional[PathLike] = None, grace: float = 5.0,
                 expected_jobs: Sequence[Job] = (),
                 groups: Sequence[Dict[str, Any]] = (), **areal_kwargs: Any) -> None:
        core = _core_module()
        self._lock = threading.RLock()
        self._areal = areal_options(areal_kwargs)
        if self._areal.gpus is not None:
            if gpus is not None or cluster is not None:
                raise ValueError("give gpu_devices or gpus/cluster, not both")
            gpus = self._areal.gpus
        self._cluster_text = _cluster_json(cluster)
        self._declared = _declared(gpus, cpu, mem)
        if self._cluster_text and self._declared:
            raise ValueError("give either cluster or gpus/cpu/mem, not both")
        if log_dir is None:
            log_dir = self._areal.default_log_dir()
        if log_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            log_dir = os.path.join("berth-runs", f"python-{stamp}-{os.getpid()}", "logs")
        self.log_dir = os.path.abspath(os.fspath(log_dir))
        os.makedirs(self.log_dir, exist_ok=True)
        expected = [role_map(j, self._areal.rpc) for j in expected_jobs]
        self._expected = {m["name"] for m in expected}
        # A role's startup_timeout, for get_workers(role, timeout=None).
        self._timeouts: Dict[str, float] = {}
        # A role's port names per worker spec (worker_ports has exactly these, in order).
        self._port_names: Dict[str, List[List[str]]] = {}
        # Roles whose workers run AReaL's RPC server (fork_workers' None runs it too).
        self._rpc_roles: set = set()
        self._rpc: Optional[EngineRPC] = None  # made on first use
        # worker id -> (ip, first port), for engine calls without a round trip to _core.
        self._endpoints: Dict[str, Any] = {}
        supervisor = os.path.join(os.path.dirname(os.path.abspath(__file__)), "berth-supervisor")
        try:
            self._core = core.Scheduler(
                self.log_dir, self._cluster_text,
                int(gpus) if gpus is not None else -1,
                float(cpu) if cpu is not None else -1,
                float(mem) if mem is not None else -1,
                float(grace), _dumps(expected), supervisor, _dumps(list(groups)))
        except core.Error as e:
            raise from_core(e, "scheduler", "scheduler") from None
        self._closed = False
        _open.add(self)

    # --- plumbing -----------------------------------------------------------------------------

    def _live(self):
        if self._closed:
            raise SchedulerError("this Scheduler is closed", code="closed")
        return self._core

    def _engine_rpc(self) -> EngineRPC:
        self._live()
        if self._rpc is None:
            self._rpc = EngineRPC(self)
        return self._rpc

    def _worker(self, worker_id: str) -> Optional[Worker]:
        """Worker `worker_id` as it is now (any phase), None when there is none."""
        with self._lock:
            for d in json.loads(self._live().workers()):
                if d["id"] == worker_id:
                    return self._exact_ports(d.get("role", ""), Worker.from_json(d))
        return None

    def _endpoint(self, worker_id: str) -> Optional[Any]:
        """(ip, worker_ports[0]) of worker `worker_id`, None when there is none."""
        ep = self._endpoints.get(worker_id)
        if ep is None:
            w = self._worker(worker_id)
            if w is None or not w.worker_ports:
                return None
            ep = self._endpoints[worker_id] = (w.ip, int(w.worker_ports[0]))
        return ep

    def _forget_deleted(self) -> None:
        self._endpoints.clear()
        alive = set(self._core.roles())
        for r in list(self._timeouts):
            if r not in alive:
                del self._timeouts[r]
                self._port_names.pop(r, None)
                self._rpc_roles.discard(r)

    # --- AReaL's operations -------------------------------------------------------------------

    def create_workers(self, job: Any) -> List[str]:
        """Places job.role and starts its workers, then waits until every one is ready
        (job.readiness, by default AReaL's GET /health on the first port; at most
        job.startup_timeout seconds). Returns the worker ids in index order ("role/0",
        "role/1", ...; a multi-node instance adds "role/i.r" for its other node ranks). An
        alias (colocation with fork=False) starts nothing and returns its target's ids.

        `job` is a berth.Job or any object with AReaL's Job fields (AReaL's own Job, with
        its SchedulingSpec and SchedulingStrategy objects); such a job gets the Scheduler's
        startup_timeout (AReaL's 30 s when none was given). A forked role (colocation,
        fork=True) reserves no cpu or memory of its own unless it was named in
        expected_jobs, as AReaL's forks: it runs in its target's bundle, on its GPUs.

        Raises TypeError for an object that is not a Job, ValueError for a bad strategy
        type; WorkerCreationError for an invalid job (duplicate role, replicas 0, spec count
        neither 1 nor replicas, replica mismatch, nodelist/exclude, bad values) and for a
        worker that exited at start-up (.exit_code, .log_tail); WorkerNotFoundError for a
        colocation target without workers; PlacementError when it does not fit;
        WorkerTimeoutError when a worker is not ready in time. A failing call has stopped
        whatever it started.
        """
        given = job
        job = compat.as_job(job)
        if not isinstance(given, Job):
            job.startup_timeout = self._areal.startup_timeout or 30.0
        m = role_map(job, self._areal.rpc)
        specs = m.get("scheduling_spec")
        spec_list = specs if isinstance(specs, list) else [specs] if specs else []
        strategy = job.scheduling_strategy
        if strategy.colocated and strategy.fork and job.role not in self._expected:
            for sp in spec_list:  # AReaL's forks reserve nothing beyond their target
                sp["cpu"] = 0
                sp["mem"] = 0
        core = _core_module()
        with self._lock:
            c = self._live()
            if job.role in c.roles():  # AReaL's words first, then berth's
                raise WorkerCreationError(
                    job.role, f"Role '{job.role}' already exists", code="invalid_spec",
                    explanation=f'berth: role "{job.role}" already has workers; '
                    f'delete_workers("{job.role}") first, or use another name')
            try:
                ids = list(c.create_workers(_dumps(m)))
            except core.Error as e:
                key = job.role
                if strategy.colocated and "colocation target" in str(e):
                    key = strategy.target or job.role
                raise from_core(e, "create_workers", key,
                                timeout=float(job.startup_timeout)) from None
            if job.is_alias:
                t = strategy.target
                self._timeouts[job.role] = self._timeouts.get(t, 30.0)
                self._port_names[job.role] = self._port_names.get(t, [])
                if t in self._rpc_roles:
                    self._rpc_roles.add(job.role)
            else:
                self._timeouts[job.role] = float(job.startup_timeout)
                self._port_names[job.role] = [list(sp["ports"]) for sp in spec_list]
                if any(compat.runs_areal_module(sp.get("cmd")) for sp in spec_list):
                    self._rpc_roles.add(job.role)
                    if self._areal.exp_config is not None:
                        self._engine_rpc().configure_role(job.role, ids, self._areal.exp_config)
            return ids

    def _exact_ports(self, role: str, w: Worker) -> Worker:
        # berth adds rank 0 of a training role a "master" port when the spec has none; AReaL's
        # worker_ports has exactly the spec's port_count.
        names = self._port_names.get(role)
        if names:
            mine = names[w.index] if len(names) > 1 and w.index < len(names) else names[0]
            if all(n in w.ports for n in mine):
                w.worker_ports = [str(w.ports[n]) for n in mine]
        return w

    def get_workers(self, role: str, timeout: Optional[float] = None) -> List[Worker]:
        """The role's workers in index order, once every one is ready (by default: answers
        GET /health on its first port, as AReaL's get_workers waits for), waiting at most
        `timeout` seconds (None: the role's startup_timeout; AReaL's None may wait without
        bound, berth's never does). An alias returns its target's workers. worker_ports has
        exactly the spec's port_count ports.

        Raises WorkerNotFoundError (no such role), WorkerFailedError (a worker has exited:
        .exit_code, .stderr = the last lines of its log), WorkerTimeoutError (not ready in
        time; the workers keep running).
        """
        if timeout is not None and (isinstance(timeout, bool) or not timeout >= 0):
            raise ValueError(f"get_workers: timeout must be None or seconds >= 0, got {timeout!r}")
        core = _core_module()
        with self._lock:
            c = self._live()
            t = self._timeouts.get(role, 30.0) if timeout is None else float(timeout)
            try:
                text = c.get_workers(role, t)
            except core.Error as e:
                raise from_core(e, "get_workers", role, timeout=t) from None
            ws = [self._exact_ports(role, Worker.from_json(w)) for w in json.loads(text)]
            for w in ws:  # a restart may have given it new ports
                if w.worker_ports:
                    self._endpoints[w.id] = (w.ip, int(w.worker_ports[0]))
            return ws

    def delete_workers(self, role: Optional[str] = None, reverse_order: bool = False) -> None:
        """Stops the role's workers (None: every role) and releases their placement groups.
        Roles colocated on it (forks and aliases) go first, then the role; within a role,
        rank 0 last; SIGTERM to each worker's process tree, then SIGKILL after `grace`.
        Every role in reverse creation order for None.

        reverse_order (AReaL's, which TrainController passes as True so that rank 0, the
        TCPStore owner, is signalled last): berth always stops rank 0 last, so both values
        give that order. An unknown role logs a warning (logger "berth") and returns, as
        AReaL does.
        """
        if not isinstance(reverse_order, bool):
            raise TypeError(f"delete_workers: reverse_order must be a bool, got {reverse_order!r}")
        core = _core_module()
        with self._lock:
            c = self._live()
            try:
                c.delete_workers(role)
            except core.Error as e:
                err = from_core(e, "delete_workers", role or "*")
                if role is not None and err.code == "not_found":
                    logger.warning("delete_workers(%r): no such role; nothing deleted (%s)",
                                   role, err.explanation)
                    return
                raise err from None
            finally:
                if not self._closed:
                    self._forget_deleted()

    def _fork_argv(self, role: str, target_role: str,
                   command: Union[None, str, Sequence[str]]) -> List[str]:
        if command is None and target_role not in self._rpc_roles:
            return []  # the target's own cmd
        if command is None or isinstance(command, str):
            module = compat.RPC_SERVER_MODULE if command is None else command
            if not compat.is_module_name(module):
                raise ValueError(
                    f"fork_workers: command {command!r} is not a Python module name; as in "
                    "AReaL, it is the module run with `python -m` in place of the RPC server "
                    "(e.g. 'areal.experimental.openai.proxy.proxy_rollout_server'); give an "
                    "argv list to run another program")
            names = self._port_names.get(target_role) or [[]]
            if not names[0]:
                if target_role not in self._timeouts:
                    raise WorkerNotFoundError(target_role)
                raise ValueError(f"fork_workers: {target_role!r} has no ports, so a fork "
                                 f"running {module} has no --port; give an argv list")
            return compat.rpc_server_argv(module, self._areal.rpc, role, names[0][0])
        if isinstance(command, (list, tuple)) and command and \
                all(isinstance(a, str) for a in command):
            return list(command)
        raise ValueError(f"fork_workers: command must be None, a module name or a non-empty argv "
                         f"list of strings, got {command!r}")

    def fork_workers(self, role: str, target_role: str,
                     command: Union[None, str, Sequence[str]] = None) -> List[str]:
        """One new worker per worker of target_role, in its bundle: same node, same GPUs
        (its CUDA_VISIBLE_DEVICES), its own ports (as many as the target's) and BERTH_*
        identity, its own ranks and MASTER_PORT for a training target. Waits for the target's
        readiness check within its startup_timeout. Returns the new ids "role/i"; the role is
        colocated on the target (deleted before it). It declares no cpu or mem, as AReaL's.

        command, as AReaL's: a Python module name, run as `python -m <command>` with the
        arguments AReaL's LocalScheduler gives its RPC server (the fork's role and index);
        None: AReaL's RPC server when the target runs it, else the target's own cmd. berth
        also takes an argv list (run as is, {NAME} placeholders replaced).

        Raises ValueError (a command that is neither), WorkerNotFoundError (no such target),
        WorkerCreationError (duplicate role, a fork that exited at start-up),
        WorkerTimeoutError, PlacementError (no free port).
        """
        core = _core_module()
        with self._lock:
            argv = self._fork_argv(role, target_role, command)
            c = self._live()
            timeout = self._timeouts.get(target_role, 30.0)
            try:
                ids = list(c.fork_workers(role, target_role, argv))
            except core.Error as e:
                key = target_role if "has no workers" in str(e) else role
                raise from_core(e, "fork_workers", key, timeout=timeout) from None
            self._timeouts[role] = timeout
            self._port_names[role] = self._port_names.get(target_role, [])[:1]
            if compat.runs_areal_module(argv) or (not argv and target_role in self._rpc_roles):
                self._rpc_roles.add(role)
            return ids

    def group(self, name: str) -> Dict[str, Any]:
        """A communication group (the `groups` given to the Scheduler) as it is now:
        {"name", "version", "world_size", "master_addr", "master_port", "members": [worker
        id, ...]} with the members in rank order. The version goes up, with a new port, each
        time its members change (a role created, scaled, an instance restarted or dropped):
        members re-form the group when it does. Raises KeyError for an unknown name.
        """
        with self._lock:
            c = self._live()
            for g in json.loads(c.comm_groups()):
                if g["name"] == name:
                    return g
        raise KeyError(f"group {name!r}: no such group (give it in Scheduler(groups=...))")

    def scale_workers(self, role: str, replicas: int,
                      timeout: Optional[float] = None) -> List[str]:
        """Grows or shrinks a separate or deferred role to `replicas` instances while the rest
        runs. Growing places one placement group per new instance with the role's strategy,
        starts it and the forks on the role on it, and waits until they are ready (each
        worker's startup timeout, or `timeout` seconds for all); nothing half-started stays
        when they do not fit or do not come up. Shrinking stops the highest instances first
        (their forks first). The same size is a no-op. Returns the role's ids.

        Raises WorkerNotFoundError (no such role), WorkerCreationError (a shared role, a
        colocated one, replicas below 1 or below min_replicas, a new worker that exited),
        PlacementError (the new instances do not fit: PENDING or INFEASIBLE, explained),
        WorkerTimeoutError.
        """
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ValueError(f"scale_workers: replicas must be an int, got {replicas!r}")
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ValueError(f"scale_workers: timeout must be None or seconds > 0, got {timeout!r}")
        core = _core_module()
        with self._lock:
            c = self._live()
            t = self._timeouts.get(role, 30.0) if timeout is None else float(timeout)
            try:
                self._endpoints.clear()
                return list(c.scale_workers(role, replicas,
                                            None if timeout is None else float(timeout)))
            except core.Error as e:
                raise from_core(e, "scale_workers", role, timeout=t) from None

    # --- berth's extras -----------------------------------------------------------------------

    def workers(self) -> List[Worker]:
        """Every worker this Scheduler runs, in launch order, in whatever phase it is."""
        with self._lock:
            return [Worker.from_json(w) for w in json.loads(self._live().workers())]

    def roles(self) -> List[str]:
        """The roles with workers, in creation order (aliases included)."""
        with self._lock:
            return list(self._live().roles())

    def warnings(self) -> List[str]:
        """What planning warned about so far (e.g. a rollout role's shared placement turned
        into separate, an instance too big for one node placed as deferred)."""
        with self._lock:
            return list(self._live().warnings())

    def plan(self, jobs: Union[Job, Sequence[Job]], name: str = "plan") -> Dict[str, Any]:
        """berth.plan of these jobs on this Scheduler's cluster, as if nothing ran on it yet."""
        if not isinstance(jobs, (list, tuple)):
            jobs = [jobs]  # one Job (berth's or AReaL's)
        core = _core_module()
        text = _dumps(_experiment(jobs, name, self._declared))
        try:
            return json.loads(core.plan(text, self._cluster_text))
        except core.Error as e:
            raise from_core(e, "plan", name) from None

    @property
    def n_gpus_per_node(self) -> int:
        """GPUs per node (AReaL's property, which RolloutController reads): n_gpus_per_node
        or exp_config.cluster.n_gpus_per_node when given, else the declared GPUs (gpus,
        gpu_devices), else the most GPUs a node of the cluster has, else this machine's."""
        if self._areal.n_gpus_per_node is not None:
            return self._areal.n_gpus_per_node
        if "gpus" in self._declared:
            return int(self._declared["gpus"])
        if self._cluster_text:
            nodes = json.loads(self._cluster_text).get("nodes", [])
            return max((int(n.get("resources", {}).get("GPU", 0)) for n in nodes), default=0)
        return detected_gpus()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Deletes every worker (as delete_workers()) and stops the supervisor. Idempotent;
        any later call but close() raises SchedulerError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            _open.discard(self)
            core = _core_module()
            try:
                self._core.close()
            except core.Error as e:
                raise from_core(e, "close", "*") from None
            finally:
                self._timeouts.clear()
                if self._rpc is not None:
                    self._rpc.close()

    def __enter__(self) -> "Scheduler":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"roles={self.roles()!r}"
        return f"<berth.Scheduler log_dir={self.log_dir!r} {state}>"
