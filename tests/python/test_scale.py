"""Scheduler.scale_workers (issue: elastic rollout): a separate role grown and shrunk by
instances while it runs, each new instance on GPUs of its own and ready when the call returns;
beyond capacity a PlacementError with nothing started; a gang refused, saying why."""

from __future__ import annotations

import pytest

import berth
from berth_test_helpers import pid_gone, spec, wait_until

HEALTH = "http:http/health"


def rollout(demo_worker, replicas):
    job = berth.Job(role="rollout", replicas=replicas,
                    tasks=[spec([demo_worker], ports=["http"], gpu=1)],
                    scheduling_strategy=berth.SchedulingStrategy(), readiness=HEALTH,
                    startup_timeout=10.0)
    job.tasks[0].ray_placement_strategy = "separate"
    return job


def test_scale_up_and_down(sched, demo_worker):
    sched.create_workers(rollout(demo_worker, 2))
    first = {w.id: w for w in sched.get_workers("rollout", timeout=5)}
    assert sched.scale_workers("rollout", 4) == ["rollout/0", "rollout/1", "rollout/2", "rollout/3"]
    now = {w.id: w for w in sched.get_workers("rollout", timeout=5)}
    assert len({tuple(w.gpus) for w in now.values()}) == 4
    assert now["rollout/0"].pid == first["rollout/0"].pid
    gone = now["rollout/3"].pid
    assert sched.scale_workers("rollout", 1) == ["rollout/0"]
    wait_until(lambda: pid_gone(gone), 10, "rollout/3 to be stopped")
    assert [w.id for w in sched.get_workers("rollout", timeout=5)] == ["rollout/0"]
    assert sched.scale_workers("rollout", 1) == ["rollout/0"]  # the same size: nothing to do


def test_beyond_capacity_is_a_placement_error_and_nothing_starts(sched, demo_worker):
    sched.create_workers(rollout(demo_worker, 2))
    before = [w.id for w in sched.workers()]
    with pytest.raises(berth.PlacementError) as e:
        sched.scale_workers("rollout", 100)
    assert "is not placed" in str(e.value)
    assert [w.id for w in sched.workers()] == before


def test_a_gang_or_bad_count_is_refused_saying_why(sched, demo_worker):
    train = berth.Job(role="train", replicas=2, tasks=[spec([demo_worker], ports=["http"], gpu=1)],
                      scheduling_strategy=berth.SchedulingStrategy(), readiness=HEALTH,
                      startup_timeout=10.0)
    sched.create_workers(train)
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.scale_workers("train", 3)
    assert "one gang" in str(e.value)
    with pytest.raises(ValueError):
        sched.scale_workers("train", "3")
    with pytest.raises(berth.WorkerNotFoundError):
        sched.scale_workers("nobody", 2)
