"""on_failure through berth.Scheduler (docs/experiment.md): get_workers restarts a failed
instance whose restart is due within its timeout and returns it with new ports; a used-up
budget is a WorkerFailedError; the other instance is never touched."""

from __future__ import annotations

import pytest

import berth
from berth_test_helpers import pid_gone, spec, wait_until

HEALTH = "http:http/health"


def rollout(demo_worker, on_failure, **kw):
    # Long enough that get_workers sees it ready before it crashes, also on a
    # loaded machine (at 0.3 s the first get_workers could already restart it).
    crash = [demo_worker, "--exit-after", "1.0", "--exit-code", "3"]
    return berth.Job(role="rollout", replicas=2,
                     tasks=[spec([demo_worker], ports=["http"], gpu=1), spec(crash, ports=["http"], gpu=1)],
                     scheduling_strategy=berth.SchedulingStrategy(), readiness=HEALTH,
                     startup_timeout=10.0, on_failure=on_failure, **kw)


def test_get_workers_restarts_a_failed_instance(sched, demo_worker):
    job = rollout(demo_worker, "restart",
                  restart={"max_restarts": 5, "backoff_s": [0.05, 0.05]})
    job.tasks[0].ray_placement_strategy = "separate"
    job.tasks[1].ray_placement_strategy = "separate"
    sched.create_workers(job)
    before = {w.id: w for w in sched.get_workers("rollout", timeout=5)}
    wait_until(lambda: pid_gone(before["rollout/1"].pid), 10, "rollout/1 to exit")
    after = {w.id: w for w in sched.get_workers("rollout", timeout=10)}
    assert before["rollout/1"].restarts == 0
    assert after["rollout/1"].restarts == 1
    assert after["rollout/1"].ports["http"] != before["rollout/1"].ports["http"]
    assert after["rollout/1"].gpus == before["rollout/1"].gpus
    assert after["rollout/0"].pid == before["rollout/0"].pid
    assert after["rollout/0"].restarts == 0


def test_a_used_up_budget_is_a_worker_failed_error(sched, demo_worker):
    job = rollout(demo_worker, "restart",
                  restart={"max_restarts": 0})
    job.tasks[0].ray_placement_strategy = "separate"
    job.tasks[1].ray_placement_strategy = "separate"
    sched.create_workers(job)
    crashing = {w.id: w for w in sched.get_workers("rollout", timeout=5)}["rollout/1"]
    wait_until(lambda: pid_gone(crashing.pid), 10, "rollout/1 to exit")
    with pytest.raises(berth.WorkerFailedError) as e:
        sched.get_workers("rollout", timeout=5)
    assert "restart.max_restarts 0): giving up" in str(e.value)


def test_a_bad_policy_is_refused_naming_it(sched, demo_worker):
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(rollout(demo_worker, "retry"))
    assert 'on_failure: unknown action "retry"; allowed: fail, restart, drop' in str(e.value)
