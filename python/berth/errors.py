"""berth's exceptions, named and constructed as AReaL's (areal/infra/scheduler/exceptions.py).

Every exception berth raises carries berth's whole explanation in its message (the role, the
worker, what to change; for a placement that does not fit, the placement engine's per-node
breakdown), and these attributes:

    code        the engine's error code: "invalid_spec", "not_found", "infeasible",
                "unavailable", "worker_failed", "timeout", "backend", "internal"
                (None for an error raised by the Python layer itself, e.g. a Job that
                cannot be written as a role)
    explanation berth's message, as the engine wrote it (text: for a placement, the reason
                and the per-node breakdown)
    explain     for a placement that does not fit (PlacementError), the same data as a dict
                (the "explain" object of docs/control-api.md): "group", "reason_code"
                ("bundle_too_large", "nodes_busy", ...), "reason", "hint", "bundle", and where
                one resource is short "node", "resource", "need", "have"; "fits_now",
                "full_now", "never_fits" and "nodes": [{"node", "verdict", "bundle",
                "resource", "need", "have"}]. None for every other error
    worker      the failing worker's id (worker_failed, timeout), else None
    exit_code   its exit code (128+N when signal N killed it; 1 for a timeout), else None
    description "exited with code 3", "not ready within 30 s", ..., else None
    log_tail    the last 50 lines of its log, else None

Which exception for which code (see Scheduler's methods for where each is raised):

    invalid_spec             WorkerCreationError
    not_found                WorkerNotFoundError
    infeasible, unavailable  PlacementError (a WorkerCreationError)
    worker_failed            WorkerCreationError from create_workers/fork_workers (details:
                             the exit code and the log tail), WorkerFailedError from get_workers
    timeout                  WorkerTimeoutError
    backend, internal        SchedulerError

The engine calls (engine_rpc.py) raise AReaL's EngineCreationError, EngineImportError,
EngineCallError, RPCConnectionError, and WorkerFailedError / WorkerNotFoundError for a worker
that has exited / does not exist.

Differences from AReaL: AReaL's messages stop at the reason; berth adds its explanation, and
the attributes above. PortAllocationError and GPUAllocationError exist for code that catches
them, but berth never raises them: a placement that does not fit (GPUs, CPUs, memory, ports)
is a PlacementError whose explanation says which resource was short on which node.
"""

from __future__ import annotations

import json
from typing import Any, Optional

__all__ = [
    "SchedulerError",
    "WorkerCreationError",
    "WorkerConfigurationError",
    "WorkerFailedError",
    "WorkerNotFoundError",
    "WorkerTimeoutError",
    "PortAllocationError",
    "GPUAllocationError",
    "PlacementError",
    "EngineCreationError",
    "EngineCallError",
    "RPCConnectionError",
    "EngineImportError",
]


class SchedulerError(Exception):
    """Base of every berth scheduler error (AReaL's SchedulerError).

    berth raises it as such for the codes "backend" (the process runtime failed: the
    supervisor is gone, a spawn failed) and "internal" (a bug in berth), and for calls on a
    closed Scheduler.
    """

    def __init__(self, *args: Any, code: Optional[str] = None, explanation: Optional[str] = None,
                 worker: Optional[str] = None, exit_code: Optional[int] = None,
                 description: Optional[str] = None, log_tail: Optional[str] = None,
                 explain: Optional[dict] = None) -> None:
        super().__init__(*args)
        self.code = code
        self.explanation = explanation
        self.explain = explain
        self.worker = worker
        self.exit_code = exit_code
        self.description = description
        self.log_tail = log_tail


def _with_explanation(message: str, explanation: Optional[str]) -> str:
    if explanation and explanation not in message:
        return message + "\n" + explanation
    return message


class WorkerCreationError(SchedulerError):
    """A role's workers could not be created (AReaL: WorkerCreationError(worker_key, reason,
    details="")); the message is "Failed to create worker '<key>': <reason>[\\nDetails: ...]".

    berth raises it for a bad Job (duplicate role, zero replicas, spec count neither 1 nor
    replicas, replica mismatch with the colocation target, a missing cmd, bad values), and
    for a worker that exited during start-up (code "worker_failed": details hold the exit
    code and the last lines of its log; .exit_code and .log_tail are set). Everything that
    was started for the call has been stopped again.
    """

    def __init__(self, worker_key: str, reason: str, details: str = "", **kw: Any) -> None:
        self.worker_key = worker_key
        self.reason = reason
        self.details = details
        # What the message shows of the details (berth's reason already quotes the log).
        shown = kw.pop("shown_details", details)
        message = f"Failed to create worker '{worker_key}': {reason}"
        if shown:
            message += f"\nDetails: {shown}"
        super().__init__(_with_explanation(message, kw.get("explanation")), **kw)


class WorkerConfigurationError(SchedulerError):
    """A worker's RPC server refused its configuration (AReaL: WorkerConfigurationError(
    worker_key, reason, details)): create_workers with an exp_config POSTs /configure to each
    new AReaL RPC server, as AReaL's LocalScheduler; on a failure the role is deleted again."""

    def __init__(self, worker_key: str, reason: str, details: str = "", **kw: Any) -> None:
        self.worker_key = worker_key
        self.reason = reason
        self.details = details
        message = f"Failed to configure worker '{worker_key}': {reason}"
        if details:
            message += f"\nDetails: {details}"
        super().__init__(_with_explanation(message, kw.get("explanation")), **kw)


class WorkerFailedError(SchedulerError):
    """A worker has exited (AReaL: WorkerFailedError(worker_id, exit_code, stderr="")).

    Raised by get_workers when one of the role's workers is no longer running. berth gives
    the real worker id (AReaL's Ray gives exit code -1, its Slurm the id "role/*") and, as
    `stderr`, the last 50 lines of the worker's log (stdout and stderr together).
    """

    def __init__(self, worker_id: str, exit_code: int, stderr: str = "", **kw: Any) -> None:
        self.worker_id = worker_id
        self.stderr = stderr
        # What the message shows of stderr (berth's explanation already quotes the log).
        shown = kw.pop("shown_stderr", stderr)
        message = f"Worker '{worker_id}' failed with exit code {exit_code}"
        if shown:
            message += f"\nStderr output:\n{shown}"
        kw.setdefault("worker", worker_id)
        kw.setdefault("log_tail", stderr or None)
        super().__init__(_with_explanation(message, kw.get("explanation")), **kw)
        self.exit_code = exit_code


class WorkerNotFoundError(SchedulerError):
    """No such role or worker (AReaL: WorkerNotFoundError(worker_id)).

    Raised by get_workers and fork_workers for a role without workers, and by create_workers
    for a colocation target without workers. (delete_workers of an unknown role logs a
    warning instead, as AReaL does.)
    """

    def __init__(self, worker_id: str, **kw: Any) -> None:
        self.worker_id = worker_id
        super().__init__(_with_explanation(f"Worker '{worker_id}' not found",
                                           kw.get("explanation")), **kw)


class WorkerTimeoutError(SchedulerError):
    """A worker was not ready in time (AReaL: WorkerTimeoutError(worker_key, timeout)).

    Raised by create_workers / fork_workers (the role's startup_timeout; the role was rolled
    back) and by get_workers (its timeout; the workers keep running). `worker_key` is the
    worker that was not ready.
    """

    def __init__(self, worker_key: str, timeout: float, **kw: Any) -> None:
        self.worker_key = worker_key
        self.timeout = timeout
        super().__init__(_with_explanation(
            f"Timeout waiting for worker '{worker_key}' (waited {timeout}s)",
            kw.get("explanation")),
            **kw)


class PortAllocationError(SchedulerError):
    """AReaL's PortAllocationError(reason). berth does not raise it (see PlacementError)."""

    def __init__(self, reason: str, **kw: Any) -> None:
        self.reason = reason
        super().__init__(f"Failed to allocate ports: {reason}", **kw)


class GPUAllocationError(SchedulerError):
    """AReaL's GPUAllocationError(reason). berth does not raise it (see PlacementError)."""

    def __init__(self, reason: str, **kw: Any) -> None:
        self.reason = reason
        super().__init__(f"Failed to allocate GPU resources: {reason}", **kw)


class PlacementError(WorkerCreationError):
    """berth only: the role's placement groups do not fit (code "infeasible": they can never
    fit these nodes; "unavailable": the roles created before hold what they need, or no free
    port is left). The message carries the engine's explanation: which bundle needs what, and
    per node whether it fits now, is full now, or can never hold it; `.explain` holds the same
    as a dict (group, reason_code, reason, hint, the short resource, per-node entries) when the
    placement engine explained it (None for "no free port"). Nothing was started.
    A subclass of WorkerCreationError, so AReaL-style `except WorkerCreationError` catches it.
    """


class EngineCreationError(SchedulerError):
    """create_engine failed on a worker (AReaL: EngineCreationError(worker_id, reason,
    status_code=None)); "Failed to create engine on worker '<id>': <reason> (HTTP <code>)".
    Raised at once for the worker's HTTP 400 (bad import path, duplicate engine name) and 500
    (the engine's constructor raised); `reason` is the worker's `error` text."""

    def __init__(self, worker_id: str, reason: str, status_code: Optional[int] = None,
                 **kw: Any) -> None:
        self.worker_id = worker_id
        self.reason = reason
        self.status_code = status_code
        message = f"Failed to create engine on worker '{worker_id}': {reason}"
        if status_code:
            message += f" (HTTP {status_code})"
        kw.setdefault("worker", worker_id)
        super().__init__(_with_explanation(message, kw.get("explanation")), **kw)


class EngineCallError(SchedulerError):
    """An engine call failed (AReaL: EngineCallError(worker_id, method, reason, attempt=1));
    "Failed to call method '<m>' on worker '<id>': <reason> (after <n> attempts)". Raised at
    once for HTTP 400/404/500, and after max_retries for 503 and connection errors."""

    def __init__(self, worker_id: str, method: str, reason: str, attempt: int = 1,
                 **kw: Any) -> None:
        self.worker_id = worker_id
        self.method = method
        self.reason = reason
        self.attempt = attempt
        message = f"Failed to call method '{method}' on worker '{worker_id}': {reason}"
        if attempt > 1:
            message += f" (after {attempt} attempts)"
        kw.setdefault("worker", worker_id)
        super().__init__(_with_explanation(message, kw.get("explanation")), **kw)


class RPCConnectionError(SchedulerError):
    """A worker's RPC server could not be reached (AReaL: RPCConnectionError(worker_id, host,
    port, reason)); "Failed to connect to worker '<id>' at <host>:<port>: <reason>". Raised by
    set_worker_env and create_engine when the worker runs but does not answer."""

    def __init__(self, worker_id: str, host: str, port: int, reason: str, **kw: Any) -> None:
        self.worker_id = worker_id
        self.host = host
        self.port = port
        self.reason = reason
        kw.setdefault("worker", worker_id)
        super().__init__(_with_explanation(
            f"Failed to connect to worker '{worker_id}' at {host}:{port}: {reason}",
            kw.get("explanation")), **kw)


class EngineImportError(SchedulerError):
    """AReaL's EngineImportError(import_path, reason): "Failed to import engine '<path>':
    <reason>". berth raises it before any request for an engine path that is not a string of
    dotted names (the worker's failed import is an EngineCreationError with HTTP 400, as in
    AReaL)."""

    def __init__(self, import_path: str, reason: str, **kw: Any) -> None:
        self.import_path = import_path
        self.reason = reason
        super().__init__(_with_explanation(
            f"Failed to import engine '{import_path}': {reason}", kw.get("explanation")), **kw)


# --- from _core.Error -----------------------------------------------------------------------


def _core_info(error: BaseException) -> dict:
    """The JSON object a _core.Error carries, or a stand-in for a malformed one."""
    raw = error.args[0] if error.args else ""
    try:
        info = json.loads(str(raw))
        if isinstance(info, dict) and "code" in info:
            return info
    except (TypeError, ValueError):
        pass
    return {"code": "internal", "message": str(raw)}


def _attrs(info: dict) -> dict:
    return {
        "code": info.get("code"),
        "explanation": info.get("message", ""),
        "worker": info.get("worker"),
        "exit_code": info.get("exit_code"),
        "description": info.get("description"),
        "log_tail": info.get("log_tail"),
        "explain": info.get("explain") if isinstance(info.get("explain"), dict) else None,
    }


def from_core(error: BaseException, op: str, key: str,
              timeout: Optional[float] = None) -> SchedulerError:
    """Turns a _core.Error raised by operation `op` ("create_workers", "fork_workers",
    "get_workers", "delete_workers", "plan", "scheduler") about role `key` into the exception
    documented above."""
    info = _core_info(error)
    code = info.get("code")
    message = info.get("message", "")
    kw = _attrs(info)
    worker = info.get("worker") or key
    if code == "invalid_spec":
        return WorkerCreationError(key, message, **kw)
    if code == "not_found":
        return WorkerNotFoundError(key, **kw)
    if code in ("infeasible", "unavailable"):
        return PlacementError(key, message, **kw)
    if code == "worker_failed":
        exit_code = info.get("exit_code", 1)
        if op == "get_workers":
            kw.pop("worker")
            kw.pop("exit_code")
            tail = kw.pop("log_tail") or ""
            return WorkerFailedError(worker, exit_code, tail, shown_stderr="", **kw)
        details = f"exit code {exit_code}"
        if info.get("log_tail"):
            details += "; last lines of its log:\n" + info["log_tail"]
        # berth's message already quotes the log's last lines: not twice.
        return WorkerCreationError(worker, message, details, shown_details=f"exit code {exit_code}",
                                   **kw)
    if code == "timeout":
        return WorkerTimeoutError(worker, timeout if timeout is not None else float("nan"), **kw)
    return SchedulerError(message or f"{op} failed", **kw)
