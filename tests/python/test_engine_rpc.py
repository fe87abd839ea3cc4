"""Engine calls (create_engine, set_worker_env, call_engine, async_call_engine) against the
stand-in of AReaL's RPC server (areal_standin/), run by berth as real worker processes:
every answer of areal.md §5.2 and every failure (503, 500, 400, a hang, a worker that dies)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import berth
import berth.engine_rpc
from areal_objects import STANDIN, Job, rpc_spec
from berth_test_helpers import PYTHON, child_env, pid_gone

ECHO = "standin_engine.EchoEngine"


def set_mode(w, mode, count=-1):
    """Switches the stand-in behind worker w: the next `count` engine requests misbehave."""
    req = urllib.request.Request(f"http://{w.ip}:{w.worker_ports[0]}/standin/mode",
                                 json.dumps({"mode": mode, "count": count}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


@pytest.fixture
def rpc(tmp_path):
    """A Scheduler with role "actor": 2 stand-in RPC servers, an EchoEngine on each."""
    s = berth.Scheduler(gpus=2, cpu=8, mem=16, log_dir=tmp_path / "logs", grace=1.0)
    s.create_workers(Job(role="actor", replicas=2, tasks=[rpc_spec(gpu=1)]))
    for w in s.get_workers("actor"):
        asyncio.run(s.create_engine(w.id, ECHO, None, "a", k=1))
    yield s
    s.close()


def test_round_trip(rpc):
    assert berth.engine_rpc.serializer() == "json"  # no `areal` in the test process
    asyncio.run(rpc.set_worker_env("actor/0", {"RANK": "0", "X": "1,=2"}))
    asyncio.run(rpc.set_worker_env("actor/0", {}))  # a no-op, as AReaL
    assert rpc.call_engine("actor/0", "getenv", None, "X") == "1,=2"
    # engine_name None is the worker id, as AReaL's default.
    assert rpc.call_engine("actor/0", "init_args") == {"args": ["a"], "kwargs": {"k": 1}}
    assert rpc.call_engine("actor/1", "echo", "actor/1", 1, [2], k={"v": None},
                           rpc_meta={"broadcast": False}) == \
        {"args": [1, [2]], "kwargs": {"k": {"v": None}}}
    # Several engines per worker, by name.
    asyncio.run(rpc.create_engine("actor/0", ECHO, "critic", "c"))
    assert rpc.call_engine("actor/0", "init_args", engine_name="critic")["args"] == ["c"]
    assert asyncio.run(rpc.async_call_engine("actor/0", "set_version", None, 7)) == 7
    assert rpc.call_engine("actor/0", "get_version") == 7


def test_create_engine_errors(rpc):
    with pytest.raises(berth.EngineImportError) as e:
        asyncio.run(rpc.create_engine("actor/0", "no_such_module.Engine", "x"))
    assert e.value.import_path == "no_such_module.Engine" and "Failed to import" in str(e.value)
    with pytest.raises(berth.EngineCreationError, match="must be a string import path"):
        asyncio.run(rpc.create_engine("actor/0", 42, "y"))
    with pytest.raises(berth.EngineCreationError) as e:
        asyncio.run(rpc.create_engine("actor/0", ECHO))  # "actor/0" exists already
    assert e.value.status_code == 400 and "already exists" in str(e.value)
    with pytest.raises(berth.EngineCreationError) as e:
        asyncio.run(rpc.create_engine("actor/0", "standin_engine.BrokenEngine", "b"))
    assert e.value.status_code == 500 and "cannot initialize" in str(e.value)
    with pytest.raises(berth.WorkerNotFoundError):
        asyncio.run(rpc.create_engine("actor/9", ECHO))


def test_400_and_500_are_not_retried(rpc):
    t = time.monotonic()
    with pytest.raises(berth.EngineCallError) as e:
        rpc.call_engine("actor/0", "no_such_method", retry_delay=30)
    assert "does not have method" in str(e.value) and e.value.attempt == 1
    with pytest.raises(berth.EngineCallError) as e:
        rpc.call_engine("actor/0", "fail", retry_delay=30)
    assert "engine failure" in str(e.value) and e.value.method == "fail"
    set_mode(rpc.get_workers("actor")[0], "500", 1)
    with pytest.raises(berth.EngineCallError, match="internal error"):
        rpc.call_engine("actor/0", "echo", retry_delay=30)
    assert time.monotonic() - t < 10  # no retry delay of 30 s was slept


def test_503_is_retried_with_exponential_backoff(rpc, monkeypatch):
    slept = []
    real_sleep = time.sleep
    monkeypatch.setattr(berth.engine_rpc.time, "sleep",
                        lambda s: (slept.append(s), real_sleep(s)))
    set_mode(rpc.get_workers("actor")[0], "503", 2)
    assert rpc.call_engine("actor/0", "echo", None, 1, retry_delay=0.05) == \
        {"args": [1], "kwargs": {}}
    assert [s for s in slept if s >= 0.05] == [0.05, 0.1]
    slept.clear()
    set_mode(rpc.get_workers("actor")[0], "503", -1)
    with pytest.raises(berth.EngineCallError) as e:
        rpc.call_engine("actor/0", "echo", max_retries=3, retry_delay=0.05)
    assert e.value.attempt == 3 and "(after 3 attempts)" in str(e.value)
    assert "HTTP 503" in str(e.value) and [s for s in slept if s >= 0.05] == [0.05, 0.1]


def test_async_503_retry(rpc, caplog):
    caplog.set_level("WARNING", logger="berth")
    set_mode(rpc.get_workers("actor")[1], "503", 1)
    t = time.monotonic()
    got = asyncio.run(rpc.async_call_engine("actor/1", "echo", None, 2, retry_delay=0.2))
    assert got == {"args": [2], "kwargs": {}} and time.monotonic() - t >= 0.2
    assert "call_engine('actor/1', 'echo'): attempt 1/3 failed (HTTP 503" in caplog.text


def test_a_hang_is_bounded_by_http_timeout(rpc):
    set_mode(rpc.get_workers("actor")[0], "hang", 1)
    t = time.monotonic()
    assert rpc.call_engine("actor/0", "echo", None, 3, http_timeout=0.5, retry_delay=0.05) == \
        {"args": [3], "kwargs": {}}
    assert 0.5 <= time.monotonic() - t < 5
    set_mode(rpc.get_workers("actor")[0], "hang", -1)
    with pytest.raises(berth.EngineCallError, match="no answer within 0.3 s"):
        rpc.call_engine("actor/0", "echo", http_timeout=0.3, max_retries=2, retry_delay=0.05)


def test_a_worker_that_dies_during_a_call_is_a_worker_failed_error(rpc):
    set_mode(rpc.get_workers("actor")[0], "die", 1)
    t = time.monotonic()
    with pytest.raises(berth.WorkerFailedError) as e:
        rpc.call_engine("actor/0", "echo", retry_delay=10)
    assert time.monotonic() - t < 5  # not retried
    assert e.value.worker_id == "actor/0" and e.value.exit_code == 3
    assert "dying on request" in e.value.stderr
    # Later calls say the same at once; the other worker is fine.
    with pytest.raises(berth.WorkerFailedError):
        rpc.call_engine("actor/0", "echo")
    with pytest.raises(berth.WorkerFailedError):
        asyncio.run(rpc.set_worker_env("actor/0", {"A": "b"}))
    assert rpc.call_engine("actor/1", "get_version") == 0


def test_a_killed_worker_is_a_worker_failed_error(rpc):
    w = rpc.get_workers("actor")[1]
    os.kill(w.pid, signal.SIGKILL)
    assert pid_gone(w.pid)
    with pytest.raises(berth.WorkerFailedError) as e:
        asyncio.run(rpc.async_call_engine("actor/1", "echo", retry_delay=10))
    assert e.value.exit_code == 128 + signal.SIGKILL


def test_calls_run_concurrently(rpc):
    async def both():
        return await asyncio.gather(
            rpc.async_call_engine("actor/0", "sleep", None, 0.5),
            rpc.async_call_engine("actor/1", "sleep", None, 0.5))
    t = time.monotonic()
    assert asyncio.run(both()) == [0.5, 0.5]
    assert time.monotonic() - t < 0.95  # side by side, not one after the other


@pytest.mark.parametrize("kw,msg", [
    ({"max_retries": 0}, "max_retries must be an int >= 1"),
    ({"http_timeout": 0}, "http_timeout must be seconds > 0"),
    ({"retry_delay": -1}, "retry_delay must be seconds >= 0"),
])
def test_bad_policy(rpc, kw, msg):
    with pytest.raises(ValueError, match=msg):
        rpc.call_engine("actor/0", "echo", **kw)


def test_unknown_worker(rpc):
    with pytest.raises(berth.WorkerNotFoundError):
        rpc.call_engine("nope/0", "echo")
    with pytest.raises(berth.WorkerNotFoundError):
        asyncio.run(rpc.set_worker_env("nope/0", {"A": "b"}))


def test_json_payloads_without_areal(rpc):
    # Plain JSON: a tuple goes over as a list.
    assert rpc.call_engine("actor/0", "typeof", None, (1, 2)) == "list"
    assert rpc.call_engine("actor/0", "pair", None, 1, 2) == {"__tuple__": [1, 2]}


def test_areals_serializer_when_areal_is_importable(pythonpath):
    # A controller with `areal` importable (the stand-in's, on its sys.path): both ends use
    # its serializer, so a tuple arrives as a tuple; its workers import it through the
    # PYTHONPATH berth gives them, as AReaL's.
    r = subprocess.run([PYTHON, str(Path(__file__).with_name("areal_serializer_client.py")),
                        STANDIN], env=child_env(pythonpath),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {"serializer": "areal", "typeof": "tuple", "pair_is_tuple": True,
                   "init_arg": "tuple"}


def test_set_env_timeout_and_a_worker_that_does_not_listen(rpc, monkeypatch):
    monkeypatch.setattr(berth.engine_rpc, "SET_ENV_TIMEOUT", 0.3)
    set_mode(rpc.get_workers("actor")[0], "hang", 1)
    with pytest.raises(berth.SchedulerError, match="set_env timed out on worker 'actor/0'"):
        asyncio.run(rpc.set_worker_env("actor/0", {"A": "b"}))
    # A worker that runs but serves nothing on its first port: RPCConnectionError.
    rpc.create_workers(berth.Job(role="mute", replicas=1, readiness="none", tasks=[
        berth.SchedulingSpec(cpu=0.5, mem=0.5, port_count=1, cmd=["sleep", "60"])]))
    w = rpc.get_workers("mute")[0]
    with pytest.raises(berth.RPCConnectionError) as e:
        asyncio.run(rpc.create_engine("mute/0", ECHO))
    assert (e.value.host, e.value.port) == (w.ip, int(w.worker_ports[0]))
    with pytest.raises(berth.RPCConnectionError):
        asyncio.run(rpc.set_worker_env("mute/0", {"A": "b"}))


def test_async_calls_to_many_workers_all_run_at_once(tmp_path):
    # More workers than the loop's default executor has threads (cpus + 4).
    n = (os.cpu_count() or 1) + 6
    with berth.Scheduler(gpus=0, cpu=n, mem=2 * n, log_dir=tmp_path, grace=1.0) as s:
        s.create_workers(Job(role="r", replicas=n, tasks=[rpc_spec(cpu=0.5, mem=0.5)]))
        ids = [w.id for w in s.get_workers("r")]

        async def all_of_them():
            await asyncio.gather(*(s.create_engine(i, ECHO) for i in ids))
            t = time.monotonic()
            got = await asyncio.gather(*(s.async_call_engine(i, "sleep", None, 0.5)
                                         for i in ids))
            return got, time.monotonic() - t

        got, took = asyncio.run(all_of_them())
    assert got == [0.5] * n and took < 0.95, f"{n} calls of 0.5 s took {took:.2f} s"
