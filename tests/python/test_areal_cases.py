"""AReaL's own scheduler tests (tests/test_local_scheduler.py, test_slurm_scheduler.py;
areal.md §8), their cases adapted to berth: AReaL-shaped objects (areal_objects.py), workers
running the stand-in of AReaL's RPC server by default (no cmd)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

import berth
from areal_objects import Job, SchedulingStrategy, rpc_spec
from berth_test_helpers import http_json, pid_gone


@pytest.fixture
def s(tmp_path):
    sch = berth.Scheduler(gpus=4, cpu=8, mem=16, log_dir=tmp_path / "logs", grace=1.0,
                          experiment_name="exp", trial_name="trial")
    yield sch
    sch.close()


def coloc(target, fork=True):
    return SchedulingStrategy(type="colocation", target=target, fork=fork)


def test_create_and_discover(s):
    ids = s.create_workers(Job(role="actor", replicas=2, tasks=[rpc_spec(gpu=1)]))
    ws = s.get_workers("actor")
    assert [w.id for w in ws] == ids == ["actor/0", "actor/1"]
    for w in ws:
        assert http_json(w.ip, w.worker_ports[0], "/health")["status"] == "healthy"
    assert sorted(w.gpus[0] for w in ws) == [0, 1]


def test_one_spec_per_worker_and_env_vars(s):
    s.create_workers(Job(role="r", replicas=2, tasks=[
        rpc_spec(env_vars={"WHO": "zero"}), rpc_spec(env_vars={"WHO": "one"})]))
    got = [http_json(w.ip, w.worker_ports[0], "/standin/info")["env"]["WHO"]
           for w in s.get_workers("r")]
    assert got == ["zero", "one"]


def test_duplicate_role(s):
    s.create_workers(Job(role="a", replicas=1, tasks=[rpc_spec()]))
    with pytest.raises(berth.WorkerCreationError, match="already exists"):
        s.create_workers(Job(role="a", replicas=1, tasks=[rpc_spec()]))


def test_zero_replicas_and_bad_spec_counts(s):
    with pytest.raises(berth.WorkerCreationError, match="replicas"):
        s.create_workers(Job(role="z", replicas=0, tasks=[rpc_spec()]))
    with pytest.raises(berth.WorkerCreationError, match="no scheduling specs"):
        s.create_workers(Job(role="z", replicas=1, tasks=[]))
    with pytest.raises(berth.WorkerCreationError):
        s.create_workers(Job(role="z", replicas=3, tasks=[rpc_spec(), rpc_spec()]))
    assert s.roles() == []


def test_immediate_exit_cleans_up_with_the_log_tail(s):
    # AReaL: a worker exiting at start-up is a WorkerCreationError with the log's last lines,
    # and the role's other workers are cleaned up.
    with pytest.raises(berth.WorkerCreationError) as e:
        s.create_workers(Job(role="x", replicas=2, tasks=[
            rpc_spec(), rpc_spec(env_vars={"STANDIN_EXIT_AT_START": "5"})]))
    assert e.value.exit_code == 5 and "exiting at start as asked" in e.value.log_tail
    assert s.roles() == [] and s.workers() == []


def test_get_workers_on_a_dead_process(s):
    s.create_workers(Job(role="d", replicas=1, tasks=[rpc_spec()]))
    w = s.get_workers("d")[0]
    os.kill(w.pid, signal.SIGTERM)
    assert pid_gone(w.pid)
    # berth learns of the exit from its supervisor within a poll: ask until it has.
    deadline = time.monotonic() + 5
    with pytest.raises(berth.WorkerFailedError) as e:
        while time.monotonic() < deadline:
            s.get_workers("d", timeout=0.1)
            time.sleep(0.02)
    assert e.value.worker_id == "d/0" and e.value.exit_code == 128 + signal.SIGTERM


def test_get_workers_unknown_role_and_timeout(s):
    with pytest.raises(berth.WorkerNotFoundError):
        s.get_workers("nope")


def test_colocation_fork_and_alias(s):
    s.create_workers(Job(role="actor", replicas=2, tasks=[rpc_spec(gpu=1)]))
    actor = s.get_workers("actor")
    # fork=True (the default): ref/0, ref/1 on the actor's node and GPUs, other ports.
    assert s.create_workers(Job(role="ref", replicas=2, tasks=[rpc_spec(gpu=1)],
                                scheduling_strategy=coloc("actor"))) == ["ref/0", "ref/1"]
    ref = s.get_workers("ref")
    for a, r in zip(actor, ref):
        assert (r.ip, r.gpus) == (a.ip, a.gpus) and r.worker_ports[0] != a.worker_ports[0]
        assert http_json(r.ip, r.worker_ports[0], "/standin/info")["args"]["role"] == "ref"
    # fork=False: the target's ids, no new process.
    n = len(s.workers())
    assert s.create_workers(Job(role="critic", replicas=2, tasks=[rpc_spec()],
                                scheduling_strategy=coloc("actor", fork=False))) == \
        ["actor/0", "actor/1"]
    assert len(s.workers()) == n
    assert [w.id for w in s.get_workers("critic")] == ["actor/0", "actor/1"]
    # Engines of an alias live in the target's server, under their own names.
    asyncio.run(s.create_engine("actor/0", "standin_engine.EchoEngine", "critic", "c"))
    assert s.call_engine("actor/0", "init_args", "critic")["args"] == ["c"]
    # Replica mismatch and a missing target.
    with pytest.raises(berth.WorkerCreationError):
        s.create_workers(Job(role="bad", replicas=3, tasks=[rpc_spec()],
                             scheduling_strategy=coloc("actor")))
    with pytest.raises(berth.WorkerNotFoundError):
        s.create_workers(Job(role="bad", replicas=1, tasks=[rpc_spec()],
                             scheduling_strategy=coloc("nope")))
    # Deleting all: colocated roles first; nothing is left.
    s.delete_workers()
    assert s.roles() == [] and s.workers() == []


def test_delete_fork_removes_its_processes(s):
    s.create_workers(Job(role="rollout", replicas=1, tasks=[rpc_spec()]))
    s.fork_workers("proxy-rollout", "rollout", "areal.infra.rpc.rpc_server")
    fork = s.get_workers("proxy-rollout")[0]
    s.delete_workers("proxy-rollout")
    assert pid_gone(fork.pid) and s.roles() == ["rollout"]
    with pytest.raises(berth.WorkerNotFoundError):
        s.get_workers("proxy-rollout")
