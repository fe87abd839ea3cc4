"""AReaL's engine calls on berth's workers: the client side of AReaL's worker RPC protocol
(areal/infra/rpc/rpc_server.py; areal.md §5.2), spoken to a worker's first port
(worker_ports[0]). berth.Scheduler's create_engine, set_worker_env, call_engine and
async_call_engine are this module's EngineRPC.

    POST /set_env        {"env": {name: value}}                     timeout 30 s
    POST /create_engine  {"engine", "engine_name", "init_args", "init_kwargs"}   300 s
    POST /call           {"method", "engine_name", "args", "kwargs", "rpc_meta"}  http_timeout

Answers, as AReaL's LocalScheduler reads them: 200 gives the result ({"result": ...}); for
create_engine, 400 is EngineCreationError (EngineImportError when the worker says "Failed to
import") and 500 EngineCreationError; for a call, 400 and 500 are EngineCallError at once;
503, any other status, a refused or broken connection and a timeout are retried, max_retries
attempts in all, the k-th retry after retry_delay * 2**(k-1) seconds; then EngineCallError
(attempt = the attempts made). A worker that has exited is a WorkerFailedError (its exit code,
the last 50 lines of its log) instead of a retry; an unknown worker id a WorkerNotFoundError.
The error text is the answer's "error" field ("detail" before AReaL #1019).

Payloads: AReaL's serializer (areal.infra.rpc.serialization.serialize_value /
deserialize_value) when `areal` is importable in the controller, plain JSON otherwise
(then arguments and results must be JSON values: dicts, lists, strings, numbers, bools,
None). `serializer()` says which is used.

The HTTP client is http.client: a persistent (keep-alive) connection per worker and thread,
every socket operation bounded by the call's timeout; it releases the GIL while it waits, so
other threads run. The async methods run each attempt in a thread of berth's pool (one per call in
flight, up to MAX_ASYNC_CALLS = 512: the loop's default executor, cpus + 4 threads, would
queue a controller's calls to many workers) and sleep between attempts with asyncio.sleep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import http.client
import json
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import (EngineCallError, EngineCreationError, EngineImportError,
                     RPCConnectionError, SchedulerError, WorkerConfigurationError,
                     WorkerFailedError, WorkerNotFoundError)

__all__ = ["EngineCalls", "EngineRPC", "serializer", "CREATE_ENGINE_TIMEOUT", "SET_ENV_TIMEOUT"]

logger = logging.getLogger("berth")

CREATE_ENGINE_TIMEOUT = 300.0  # AReaL's
CONFIGURE_TIMEOUT = 300.0
SET_ENV_TIMEOUT = 30.0
LOG_TAIL_LINES = 50
# Threads for the async methods: one per call in flight (made on demand), so that a controller
# can have a call on each of many workers at once (the loop's default executor has cpus+4).
MAX_ASYNC_CALLS = 512
_DEAD = ("exited", "failed")


def _identity(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=1)
def _codec() -> Tuple[str, Callable[[Any], Any], Callable[[Any], Any]]:
    try:
        from areal.infra.rpc.serialization import deserialize_value, serialize_value
    except Exception:  # no AReaL here (or an older one): JSON values as they are
        return "json", _identity, _identity
    return "areal", serialize_value, deserialize_value


def serializer() -> str:
    """"areal" when AReaL's serializer encodes payloads, "json" when they are plain JSON."""
    return _codec()[0]


class _Connection(http.client.HTTPConnection):
    """http.client's connection, sending a request's headers and body in one write (it sends
    them in two: a syscall, and a small segment, more per call)."""

    def _send_output(self, message_body=None, encode_chunked=False):
        if isinstance(message_body, bytes) and not encode_chunked:
            self._buffer.extend((b"", b""))
            msg = b"\r\n".join(self._buffer) + message_body
            del self._buffer[:]
            self.send(msg)
            return
        super()._send_output(message_body, encode_chunked)


class _Retry(Exception):
    """One attempt failed in a way AReaL retries (503, another status, no connection,
    timeout); `connection` says whether the worker may have died."""

    def __init__(self, reason: str, connection: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.connection = connection


def _error_text(body: bytes) -> str:
    try:
        d = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500] or "Unknown error"
    if isinstance(d, dict):
        return str(d.get("error") or d.get("detail") or "Unknown error")
    return str(d)


def _log_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


class EngineRPC:
    """The engine calls of one berth.Scheduler (made by it; use the Scheduler's methods)."""

    def __init__(self, scheduler: Any) -> None:
        self._sched = scheduler
        self._local = threading.local()
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._executor_lock = threading.Lock()

    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=MAX_ASYNC_CALLS, thread_name_prefix="berth-rpc")
            return self._executor

    def close(self) -> None:
        """Stops the async methods' threads (without waiting for calls in flight)."""
        with self._executor_lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=False, cancel_futures=True)

    # --- transport ------------------------------------------------------------------------

    def _conn(self, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        c = pool.get((host, port))
        if c is None:
            c = pool[(host, port)] = _Connection(host, port, timeout=timeout)
        if c.timeout != timeout:  # settimeout is a syscall: only when it changes
            c.timeout = timeout
            if c.sock is not None:
                c.sock.settimeout(timeout)
        return c

    def _drop(self, host: str, port: int) -> None:
        pool = getattr(self._local, "pool", {})
        c = pool.pop((host, port), None)
        if c is not None:
            c.close()

    def _post(self, host: str, port: int, path: str, payload: Dict[str, Any],
              timeout: float) -> Tuple[int, bytes]:
        """(status, body); _Retry for no connection or a timeout."""
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        for fresh in (False, True):
            c = self._conn(host, port, timeout)
            reused = c.sock is not None
            try:
                c.request("POST", path, body, headers)
                r = c.getresponse()
                data = r.read()
                if r.will_close:
                    self._drop(host, port)
                return r.status, data
            except socket.timeout:
                self._drop(host, port)
                raise _Retry(f"no answer within {timeout} s", False) from None
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self._drop(host, port)
                # A kept-alive connection the server has closed meanwhile: once more, fresh.
                if reused and not fresh:
                    continue
                raise _Retry(f"{type(e).__name__}: {e}", True) from None
        raise AssertionError("unreachable")

    # --- workers ----------------------------------------------------------------------------

    def _endpoint(self, worker_id: str) -> Tuple[str, int]:
        if not isinstance(worker_id, str):
            raise WorkerNotFoundError(repr(worker_id))
        ep = self._sched._endpoint(worker_id)
        if ep is None:
            raise WorkerNotFoundError(worker_id)
        return ep

    def check_alive(self, worker_id: str, settle: float = 0.0) -> None:
        """WorkerFailedError when the worker has exited, WorkerNotFoundError when it is
        gone. With `settle`, a worker whose process no longer runs is looked at through
        get_workers (which collects its exit code, or restarts it under on_failure
        "restart") for up to that long."""
        deadline = time.monotonic() + settle
        gone = False
        while True:
            w = self._sched._worker(worker_id)
            if w is None:
                raise WorkerNotFoundError(worker_id)
            if w.phase in _DEAD:
                raise _failed(worker_id, w.exit_status if w.exit_status >= 0 else -1,
                              _log_tail(w.log_path), w.exit or w.phase, w.log_path)
            if settle <= 0 or w.pid <= 0:
                return
            if _running(w.pid):
                # A connection that failed as the process exits (its sockets close before
                # it is a zombie): give it `settle` to be gone, else it is alive.
                if time.monotonic() >= deadline:
                    return
            else:
                if not gone:  # a second to collect its exit code from the supervisor
                    gone, deadline = True, max(deadline, time.monotonic() + 1.0)
                try:  # the process is gone: get_workers collects it
                    self._sched.get_workers(w.role, timeout=0)
                except WorkerFailedError as e:
                    if e.worker_id == worker_id:
                        raise _failed(worker_id, e.exit_code, e.stderr,
                                      e.description or "exited", w.log_path) from None
                except SchedulerError:
                    pass
                if time.monotonic() >= deadline:
                    raise _failed(worker_id, -1, _log_tail(w.log_path),
                                  f"process {w.pid} is no longer running", w.log_path)
            time.sleep(0.02)

    # --- set_env, create_engine ---------------------------------------------------------------

    def set_worker_env(self, worker_id: str, env: Dict[str, str]) -> None:
        if not isinstance(env, dict):
            raise TypeError(f"set_worker_env: env must be a dict of str to str, got {env!r}")
        host, port = self._endpoint(worker_id)
        self.check_alive(worker_id)
        if not env:
            return
        try:
            status, body = self._post(host, port, "/set_env", {"env": dict(env)},
                                      SET_ENV_TIMEOUT)
        except _Retry as r:
            if not r.connection:
                raise SchedulerError(f"set_env timed out on worker '{worker_id}': {r.reason}",
                                     worker=worker_id) from None
            self.check_alive(worker_id, settle=1.0)
            raise RPCConnectionError(worker_id, host, port, r.reason) from None
        if status != 200:
            raise SchedulerError(f"Failed to set env on worker '{worker_id}' "
                                 f"(status={status}): {_error_text(body)}", worker=worker_id)

    def create_engine(self, worker_id: str, engine: Any, engine_name: Optional[str],
                      args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        host, port = self._endpoint(worker_id)
        self.check_alive(worker_id)
        if engine_name is None:
            engine_name = worker_id  # AReaL's default
        if not isinstance(engine, str):
            raise EngineCreationError(
                worker_id, f"Engine must be a string import path, got {type(engine)}")
        _, enc, dec = _codec()
        payload = {"engine": engine, "engine_name": engine_name,
                   "init_args": enc(list(args)), "init_kwargs": enc(dict(kwargs))}
        try:
            status, body = self._post(host, port, "/create_engine", payload,
                                      CREATE_ENGINE_TIMEOUT)
        except _Retry as r:
            if not r.connection:
                raise EngineCreationError(worker_id, f"Engine creation timed out: {r.reason}")
            self.check_alive(worker_id, settle=1.0)
            raise RPCConnectionError(worker_id, host, port, r.reason) from None
        if status == 200:
            return dec(json.loads(body).get("result"))
        detail = _error_text(body)
        if status == 400 and "Failed to import" in detail:
            raise EngineImportError(engine, detail)
        if status in (400, 500):
            raise EngineCreationError(worker_id, detail, status)
        raise EngineCreationError(worker_id, f"Unexpected status code: {status}", status)

    def configure_role(self, role: str, ids: Any, config: Any) -> None:
        """AReaL's LocalScheduler with an exp_config: POST /configure {"config", "rank"} to
        each new worker once all have started. A failure deletes the role (create_workers is
        all-or-nothing) and raises WorkerConfigurationError(worker_id, reason, details)."""
        _, enc, _ = _codec()
        body = enc(config) if serializer() == "areal" else _jsonable(config)
        for rank, worker_id in enumerate(ids):
            host, port = self._endpoint(worker_id)
            try:
                status, data = self._post(host, port, "/configure",
                                          {"config": body, "rank": rank}, CONFIGURE_TIMEOUT)
                reason = None if status == 200 else f"HTTP {status}: {_error_text(data)}"
            except _Retry as r:
                reason = r.reason
            if reason is not None:
                self._sched.delete_workers(role)
                raise WorkerConfigurationError(
                    worker_id, "configure failed", reason,
                    explanation=f"berth: deleted role {role!r} again (POST /configure to "
                    f"{host}:{port})")

    # --- calls --------------------------------------------------------------------------------

    def call_payload(self, method: str, engine_name: Optional[str], worker_id: str,
                     args: Tuple[Any, ...], kwargs: Dict[str, Any],
                     rpc_meta: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        if not isinstance(method, str) or not method:
            raise TypeError(f"call_engine: method must be a method name, got {method!r}")
        _, enc, _ = _codec()
        return {"method": method, "engine_name": worker_id if engine_name is None else engine_name,
                "args": enc(list(args)), "kwargs": enc(dict(kwargs)), "rpc_meta": rpc_meta}

    def attempt(self, worker_id: str, method: str, payload: Dict[str, Any],
                http_timeout: float, attempt: int) -> Any:
        """One POST /call: its result, EngineCallError at once, or _Retry."""
        host, port = self._endpoint(worker_id)
        status, body = self._post(host, port, "/call", payload, http_timeout)
        if status == 200:
            return _codec()[2](json.loads(body).get("result"))
        detail = _error_text(body)
        if status in (400, 500):
            raise EngineCallError(worker_id, method, detail, attempt)
        raise _Retry(f"HTTP {status}: {detail}", False)

    def after_failure(self, worker_id: str, method: str, r: _Retry, attempt: int,
                      max_retries: int) -> None:
        """After a failed attempt: WorkerFailedError for a dead worker, EngineCallError when
        the attempts are used up."""
        if r.connection:  # a restarted worker has new ports: look it up again
            self._sched._endpoints.pop(worker_id, None)
        self.check_alive(worker_id, settle=0.5 if r.connection else 0.0)
        if attempt >= max_retries:
            raise EngineCallError(worker_id, method, r.reason, attempt)
        logger.warning("call_engine(%r, %r): attempt %d/%d failed (%s); retrying", worker_id,
                       method, attempt, max_retries, r.reason)

    def call(self, worker_id: str, method: str, engine_name: Optional[str],
             args: Tuple[Any, ...], kwargs: Dict[str, Any], http_timeout: float,
             max_retries: int, retry_delay: float, rpc_meta: Optional[Dict[str, Any]]) -> Any:
        _check_policy(http_timeout, max_retries, retry_delay)
        payload = self.call_payload(method, engine_name, worker_id, args, kwargs, rpc_meta)
        for attempt in range(1, max_retries + 1):
            try:
                return self.attempt(worker_id, method, payload, http_timeout, attempt)
            except _Retry as r:
                self.after_failure(worker_id, method, r, attempt, max_retries)
            time.sleep(retry_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def async_call(self, worker_id: str, method: str, engine_name: Optional[str],
                         args: Tuple[Any, ...], kwargs: Dict[str, Any], http_timeout: float,
                         max_retries: int, retry_delay: float,
                         rpc_meta: Optional[Dict[str, Any]]) -> Any:
        _check_policy(http_timeout, max_retries, retry_delay)
        payload = self.call_payload(method, engine_name, worker_id, args, kwargs, rpc_meta)
        loop = asyncio.get_running_loop()
        for attempt in range(1, max_retries + 1):
            try:
                return await loop.run_in_executor(
                    self.executor(), self.attempt, worker_id, method, payload, http_timeout, attempt)
            except _Retry as r:
                await loop.run_in_executor(self.executor(), self.after_failure, worker_id, method, r,
                                           attempt, max_retries)
            await asyncio.sleep(retry_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


def _failed(worker_id: str, code: int, tail: str, what: str, log: str) -> WorkerFailedError:
    return WorkerFailedError(worker_id, code, tail, explanation=f"berth: {worker_id} {what} "
                             f"(log: {log})", description=what)


def _jsonable(value: Any) -> Any:
    """A config object as JSON values (dataclasses and mappings as dicts; anything else that
    JSON cannot hold as its str): what the worker gets without AReaL's serializer."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _check_policy(http_timeout: Any, max_retries: Any, retry_delay: Any) -> None:
    if isinstance(http_timeout, bool) or not isinstance(http_timeout, (int, float)) \
            or not http_timeout > 0:
        raise ValueError(f"http_timeout must be seconds > 0, got {http_timeout!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
        raise ValueError(f"max_retries must be an int >= 1 (the attempts in all), "
                         f"got {max_retries!r}")
    if isinstance(retry_delay, bool) or not isinstance(retry_delay, (int, float)) \
            or retry_delay < 0:
        raise ValueError(f"retry_delay must be seconds >= 0, got {retry_delay!r}")


class EngineCalls:
    """AReaL's engine methods of berth.Scheduler (a base class of it): they need
    `self._engine_rpc()`, an EngineRPC of the Scheduler."""

    async def create_engine(self, worker_id: str, engine: str, engine_name: Optional[str] = None,
                            *args: Any, **kwargs: Any) -> Any:
        """Creates engine `engine` (an import path, instantiated on the worker as
        cls(*args, **kwargs)) on worker `worker_id` under `engine_name` (None: the worker
        id, as AReaL). Returns what the worker answers. Raises WorkerNotFoundError,
        WorkerFailedError (the worker has exited), EngineImportError (the worker could not
        import it), EngineCreationError (400, 500, a non-string path, a timeout after 300 s),
        RPCConnectionError (the worker runs but does not answer)."""
        rpc = self._engine_rpc()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(rpc.executor(), functools.partial(
            rpc.create_engine, worker_id, engine, engine_name, args, kwargs))

    async def set_worker_env(self, worker_id: str, env: Dict[str, str]) -> None:
        """Sets `env` in the worker's os.environ (before its engine is created); an empty env
        is a no-op. Raises WorkerNotFoundError, WorkerFailedError, RPCConnectionError,
        SchedulerError (the worker refused it), TypeError (env not a dict)."""
        rpc = self._engine_rpc()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(rpc.executor(), rpc.set_worker_env, worker_id, env)

    def call_engine(self, worker_id: str, method: str, engine_name: Optional[str] = None,
                    *args: Any, rpc_meta: Optional[Dict[str, Any]] = None,
                    http_timeout: float = 7200.0, max_retries: int = 3,
                    retry_delay: float = 1.0, **kwargs: Any) -> Any:
        """Calls engine_name.method(*args, **kwargs) on the worker (engine_name None: the
        worker id) and returns its result. 503, connection errors and timeouts are retried
        (max_retries attempts in all, delays retry_delay * 2**(k-1)); 400 and 500 raise
        EngineCallError at once; a worker that has exited raises WorkerFailedError (exit
        code, log tail). Blocks the calling thread only (the GIL is released while waiting).
        """
        return self._engine_rpc().call(worker_id, method, engine_name, args, kwargs,
                                       http_timeout, max_retries, retry_delay, rpc_meta)

    async def async_call_engine(self, worker_id: str, method: str,
                                engine_name: Optional[str] = None, *args: Any,
                                rpc_meta: Optional[Dict[str, Any]] = None,
                                http_timeout: float = 7200.0, max_retries: int = 3,
                                retry_delay: float = 1.0, **kwargs: Any) -> Any:
        """call_engine for asyncio: each attempt runs in a thread of its own (a pool of up to MAX_ASYNC_CALLS)."""
        return await self._engine_rpc().async_call(worker_id, method, engine_name, args, kwargs,
                                                   http_timeout, max_retries, retry_delay,
                                                   rpc_meta)
