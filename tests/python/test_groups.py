"""Communication groups through berth.Scheduler: a member's env says its rank, the world size,
the rendezvous and the version; Scheduler.group(name) agrees; scale_workers makes a new version
that the new member's env carries; groups naming unknown roles are refused saying why."""

from __future__ import annotations

import json
import urllib.request

import pytest

import berth
from berth_test_helpers import spec

HEALTH = "http:http/health"
WEIGHTS = [{"name": "weights", "members": [{"role": "actor", "ranks": [0]}, {"role": "rollout"}]}]


def job(role, replicas, demo_worker, separate=False):
    j = berth.Job(role=role, replicas=replicas, tasks=[spec([demo_worker], ports=["http"], gpu=1)],
                  scheduling_strategy=berth.SchedulingStrategy(), readiness=HEALTH,
                  startup_timeout=10.0)
    if separate:
        j.tasks[0].ray_placement_strategy = "separate"
    return j


def env_of(worker):
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.ports['http']}/env", timeout=10) as r:
        return json.load(r)


def test_members_env_and_group_agree_and_a_scale_makes_a_new_version(tmp_path, demo_worker):
    actor, rollout = job("actor", 2, demo_worker), job("rollout", 2, demo_worker, separate=True)
    with berth.Scheduler(gpus=8, cpu=16, mem=16, log_dir=tmp_path / "logs", grace=1.0,
                         expected_jobs=[actor, rollout], groups=WEIGHTS) as s:
        s.create_workers(actor)
        s.create_workers(rollout)
        g = s.group("weights")
        assert g["members"] == ["actor/0", "rollout/0", "rollout/1"]
        v = g["version"]
        workers = {w.id: w for w in s.workers()}
        e = env_of(workers["rollout/1"])  # started after every member was there
        assert e["BERTH_GROUP_WEIGHTS_RANK"] == "2"
        assert e["BERTH_GROUP_WEIGHTS_WORLD_SIZE"] == "3"
        assert e["BERTH_GROUP_WEIGHTS_VERSION"] == str(v)
        assert e["BERTH_GROUP_WEIGHTS_MASTER_PORT"] == str(g["master_port"])
        assert "BERTH_GROUP_WEIGHTS_RANK" not in env_of(workers["actor/1"])
        s.scale_workers("rollout", 3)
        g2 = s.group("weights")
        assert g2["version"] == v + 1 and g2["world_size"] == 4
        new = {w.id: w for w in s.workers()}["rollout/2"]
        assert env_of(new)["BERTH_GROUP_WEIGHTS_RANK"] == "3"
        assert env_of(new)["BERTH_GROUP_WEIGHTS_VERSION"] == str(v + 1)
        with pytest.raises(KeyError):
            s.group("nope")


def test_a_group_of_an_unknown_role_is_refused(tmp_path, demo_worker):
    with pytest.raises(berth.SchedulerError) as e:
        berth.Scheduler(gpus=8, cpu=16, mem=16, log_dir=tmp_path / "logs",
                        expected_jobs=[job("actor", 1, demo_worker)], groups=WEIGHTS)
    assert 'no role is named "rollout"' in str(e.value)
