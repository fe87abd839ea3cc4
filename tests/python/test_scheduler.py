"""berth.Scheduler with real workers (berth-demo-worker): every operation and every error."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
import uuid

import pytest

import berth
from berth_test_helpers import http_json, pid_gone, pids_with_env, spec, wait_until, worker_env

HEALTH = "http:http/health"


def job(role, cmd, replicas=1, readiness=HEALTH, timeout=10.0, strategy=None, instance=None,
        **spec_kw):
    return berth.Job(role=role, replicas=replicas, tasks=[spec(cmd, **spec_kw)],
                     scheduling_strategy=strategy or berth.SchedulingStrategy(),
                     instance=instance, readiness=readiness, startup_timeout=timeout)


def coloc(target, fork=True):
    return berth.SchedulingStrategy(type="colocation", target=target, fork=fork)


def stop_recorder(path):
    """A worker (sh) that appends its id to `path` when it gets SIGTERM. Once its trap is
    set it creates `path`.armed/<id with / as _> (see wait_armed)."""
    return ["/bin/sh", "-c",
            f'trap \'echo "$BERTH_WORKER_ID" >> "{path}"; exit 0\' TERM; '
            f'mkdir -p "{path}.armed"; touch "{path}.armed/$(echo "$BERTH_WORKER_ID" | tr / _)"; '
            "while :; do sleep 0.05; done"]


def wait_armed(path, ids, limit=10.0):
    """Waits until the stop recorders `ids` have set their trap: a SIGTERM before that would
    kill the shell without a record (readiness "none" cannot tell)."""
    deadline = time.monotonic() + limit
    want = {i.replace("/", "_") for i in ids}
    while time.monotonic() < deadline:
        d = f"{path}.armed"
        if os.path.isdir(d) and want <= set(os.listdir(d)):
            return
        time.sleep(0.01)
    raise AssertionError(f"stop recorders {sorted(want)} did not start within {limit} s")


# --- create / get / delete ------------------------------------------------------------------


def test_shared_ranks_and_master_addr_port(sched, demo_worker):
    ids = sched.create_workers(job("actor", [demo_worker], replicas=2, gpu=1))
    assert ids == ["actor/0", "actor/1"]
    ws = sched.get_workers("actor")
    assert [w.id for w in ws] == ids
    assert all(isinstance(w, berth.Worker) for w in ws)
    r0 = ws[0]
    # AReaL's convention: worker_ports[0] is the RPC/HTTP port, rank 0's [1] MASTER_PORT.
    assert r0.worker_ports == [str(r0.ports["http"]), str(r0.ports["master"])]
    assert sorted(g for w in ws for g in w.gpus) == sorted(set(g for w in ws for g in w.gpus))
    for i, w in enumerate(ws):
        assert (w.role, w.index, w.node, w.phase) == ("actor", i, "local", "ready")
        assert len(w.gpus) == 1 and w.pid > 0 and w.fork_of is None
        env = worker_env(w)  # what the process itself sees
        assert env["RANK"] == str(i) and env["WORLD_SIZE"] == "2"
        assert env["MASTER_ADDR"] == r0.ip
        assert env["MASTER_PORT"] == r0.worker_ports[1]
        assert env["CUDA_VISIBLE_DEVICES"] == str(w.gpus[0])
        assert env["BERTH_WORKER_ID"] == w.id
        assert w.env["MASTER_PORT"] == env["MASTER_PORT"]
        assert os.path.exists(w.log_path)
    assert http_json(r0.ip, r0.worker_ports[0], "/health")["id"] == "actor/0"
    assert sched.roles() == ["actor"]
    assert [w.id for w in sched.workers()] == ids

    sched.delete_workers("actor")
    assert sched.roles() == [] and sched.workers() == []
    assert all(pid_gone(w.pid) for w in ws)
    # The GPUs are free again: a role that needs all four fits.
    assert len(sched.create_workers(job("all", [demo_worker], replicas=4, gpu=1,
                                        readiness="none"))) == 4


def test_separate_instances_with_tcp_readiness(sched, demo_worker):
    ids = sched.create_workers(job("rollout", [demo_worker], replicas=2, gpu=1, instance=(2, 1),
                                   readiness="tcp:http", ray_placement_strategy="separate"))
    assert ids == ["rollout/0", "rollout/1"]
    ws = sched.get_workers("rollout", timeout=5)
    assert [len(w.gpus) for w in ws] == [2, 2]  # gpu becomes tp*pp
    assert set(ws[0].gpus).isdisjoint(ws[1].gpus)
    for w in ws:
        env = worker_env(w)
        assert env["BERTH_TP"] == "2" and env["BERTH_PP"] == "1"
        assert "RANK" not in env  # separate instances are no training world


def test_rollout_shared_placement_warns(sched, demo_worker):
    sched.create_workers(job("gen", [demo_worker], instance=(1, 1), readiness="none"))
    assert any("separate" in w for w in sched.warnings())


def test_deferred_instance_across_two_nodes(tmp_path, two_nodes, demo_worker):
    with berth.Scheduler(cluster=two_nodes, log_dir=tmp_path / "logs", grace=1.0) as s:
        ids = s.create_workers(job("big", [demo_worker], gpu=1, instance=(8, 1),
                                   ray_placement_strategy="deferred",
                                   readiness={"http": {"port": "http", "path": "/health"}}))
        assert ids[0] == "big/0" and len(ids) == 2
        ws = s.get_workers("big")
        assert sorted(w.node for w in ws) == ["n0", "n1"]
        assert [w.gpus for w in ws] == [[0, 1, 2, 3], [0, 1, 2, 3]]
        head = ws[0]
        for rank, w in enumerate(ws):
            assert w.index == 0 and w.ip == "127.0.0.1"
            env = worker_env(w)
            assert env["NNODES"] == "2" and env["NODE_RANK"] == str(rank)
            assert env["BERTH_HEAD_ADDR"] == head.ip
            assert env["BERTH_HEAD_PORT"] == str(head.ports["rendezvous"])
            assert env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
        # Two nodes emulated on one machine still get distinct ports.
        all_ports = [p for w in ws for p in w.ports.values()]
        assert len(all_ports) == len(set(all_ports))


def test_env_values_are_byte_exact(sched, demo_worker):
    values = {
        "COMMAS": "a,b=c,d=e",
        "QUOTES": "\"double\" 'single' `back` $HOME ${X} \\backslash",
        "LINES": "line1\nline2\r\n\ttabbed  ",
        "BRACES": "{BERTH_WORKER_ID} {{x}}",
        "UNICODE": "ünïcödé € \U0001d11e 日本",
        "EMPTY": "",
        "SPACES": "  lead and trail  ",
        "SHELL": "; rm -rf / | cat & echo $(id) > /dev/null",
    }
    sched.create_workers(job("env", [demo_worker], env_vars=values))
    w = sched.get_workers("env")[0]
    env = worker_env(w)
    for k, v in values.items():
        assert env[k] == v, k
        assert w.env[k] == v, k


def test_berth_owned_env_names_are_refused(sched, demo_worker):
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(job("own", [demo_worker], env_vars={"RANK": "3"}))
    assert e.value.code == "invalid_spec" and "RANK" in str(e.value)


def test_argv_placeholders_and_string_cmd(sched, demo_worker):
    sched.create_workers(job("ph", f"{demo_worker} --startup-delay '{{DELAY}}'",
                             env_vars={"DELAY": "0.1"}))
    w = sched.get_workers("ph")[0]
    assert w.argv == [demo_worker, "--startup-delay", "0.1"]


# --- every error ----------------------------------------------------------------------------


def test_duplicate_role(sched, demo_worker):
    sched.create_workers(job("a", [demo_worker], readiness="none"))
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(job("a", [demo_worker], readiness="none"))
    assert e.value.code == "invalid_spec" and "already has workers" in str(e.value)
    assert sched.roles() == ["a"] and len(sched.workers()) == 1


def test_zero_replicas(sched, demo_worker):
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(job("z", [demo_worker], replicas=0))
    assert e.value.code == "invalid_spec" and "replicas" in str(e.value)
    assert sched.roles() == []


def test_spec_count_neither_one_nor_replicas(sched, demo_worker):
    j = berth.Job(role="c", replicas=3, tasks=[spec([demo_worker]), spec([demo_worker])])
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(j)
    assert e.value.code == "invalid_spec"
    assert "2 specs for 3 replicas" in str(e.value)


def test_one_spec_per_replica(sched, demo_worker):
    j = berth.Job(role="c", replicas=2, readiness="none",
                  tasks=[spec([demo_worker], env_vars={"WHO": "first"}),
                         spec([demo_worker], env_vars={"WHO": "second"})])
    sched.create_workers(j)
    assert [w.env["WHO"] for w in sched.get_workers("c")] == ["first", "second"]


def test_missing_colocation_target(sched, demo_worker):
    with pytest.raises(berth.WorkerNotFoundError) as e:
        sched.create_workers(job("ref", [demo_worker], replicas=2, strategy=coloc("actor")))
    assert e.value.code == "not_found" and e.value.worker_id == "actor"
    assert "has no workers" in str(e.value)


def test_replica_mismatch(sched, demo_worker):
    sched.create_workers(job("actor", [demo_worker], replicas=2, readiness="none"))
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(job("ref", [demo_worker], replicas=1, strategy=coloc("actor", False)))
    assert e.value.code == "invalid_spec" and "mismatch" in str(e.value).lower()
    assert sched.roles() == ["actor"]


def test_infeasible_placement(sched, demo_worker):
    with pytest.raises(berth.PlacementError) as e:
        sched.create_workers(job("huge", [demo_worker], gpu=8))
    err = e.value
    assert isinstance(err, berth.WorkerCreationError)
    assert err.code == "infeasible" and "INFEASIBLE" in str(err) and "GPU" in str(err)
    assert sched.workers() == [] and sched.roles() == []


def test_unavailable_while_others_hold_the_gpus(sched, demo_worker):
    sched.create_workers(job("hog", [demo_worker], gpu=4, readiness="none"))
    with pytest.raises(berth.PlacementError) as e:
        sched.create_workers(job("late", [demo_worker], gpu=1))
    assert e.value.code == "unavailable" and "GPU" in str(e.value)
    sched.delete_workers("hog")
    assert sched.create_workers(job("late", [demo_worker], gpu=1)) == ["late/0"]


def test_worker_exiting_at_startup(sched):
    marker = "berth-test-" + uuid.uuid4().hex
    cmd = ["/bin/sh", "-c", "echo boom-$BERTH_WORKER_ID; echo to-stderr >&2; exit 7"]
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(job("crash", cmd, replicas=2, env_vars={"M": marker}))
    err = e.value
    assert not isinstance(err, berth.PlacementError)
    assert err.code == "worker_failed" and err.exit_code == 7
    assert err.worker in ("crash/0", "crash/1")
    assert f"boom-{err.worker}" in err.log_tail and "to-stderr" in err.log_tail
    assert "exit code 7" in err.details and f"boom-{err.worker}" in str(err)
    # Rolled back: nothing left.
    assert sched.roles() == [] and sched.workers() == [] and pids_with_env(marker) == []


def test_a_link_planted_in_the_log_dir_is_refused_and_gets_nothing(sched, tmp_path, demo_worker):
    precious = tmp_path / "precious"
    precious.write_text("precious\n")
    log = os.path.join(sched.log_dir, "w.0.log")
    os.symlink(precious, log)
    marker = "berth-test-" + uuid.uuid4().hex
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(job("w", [demo_worker], env_vars={"M": marker}))
    assert e.value.code == "invalid_spec"
    assert f"{log}: is a symbolic link (to '{precious}')" in str(e.value)
    assert precious.read_text() == "precious\n"
    assert sched.roles() == [] and pids_with_env(marker) == []
    # Once the link is gone the role starts, its log written in the log dir.
    os.unlink(log)
    assert sched.create_workers(job("w", [demo_worker])) == ["w/0"]
    assert os.path.isfile(log) and not os.path.islink(log)


def test_readiness_timeout(sched, demo_worker):
    marker = "berth-test-" + uuid.uuid4().hex
    start = time.monotonic()
    with pytest.raises(berth.WorkerTimeoutError) as e:
        sched.create_workers(job("slow", [demo_worker, "--startup-delay", "30"], timeout=1.0,
                                 env_vars={"M": marker}))
    assert time.monotonic() - start < 8
    err = e.value
    assert err.code == "timeout" and err.timeout == 1.0 and err.worker_key == "slow/0"
    assert "not ready within" in str(err)
    assert sched.roles() == [] and pids_with_env(marker) == []


def test_get_workers_on_a_worker_that_died_later(sched, demo_worker):
    # readiness none: created as soon as it runs, however slow the machine is.
    sched.create_workers(job("late", [demo_worker, "--exit-after", "1", "--exit-code", "5"],
                             readiness="none"))
    assert len(sched.get_workers("late", timeout=0)) == 1  # alive and ready at first
    deadline = time.monotonic() + 10
    with pytest.raises(berth.WorkerFailedError) as e:
        while time.monotonic() < deadline:
            sched.get_workers("late", timeout=0.1)
            time.sleep(0.1)
    err = e.value
    assert (err.worker_id, err.exit_code, err.code) == ("late/0", 5, "worker_failed")
    assert "exiting with code 5" in err.stderr


def test_get_workers_on_a_killed_worker(sched, demo_worker):
    sched.create_workers(job("k", [demo_worker], replicas=2))
    victim = sched.get_workers("k")[1]
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    with pytest.raises(berth.WorkerFailedError) as e:
        while time.monotonic() < deadline:
            sched.get_workers("k", timeout=0.1)
            time.sleep(0.05)
    assert e.value.worker_id == "k/1" and e.value.exit_code == 128 + signal.SIGKILL


def test_get_workers_timeout_must_be_valid(sched, demo_worker):
    sched.create_workers(job("v", [demo_worker], readiness="none"))
    with pytest.raises(ValueError):
        sched.get_workers("v", timeout=-1)


def test_unknown_role(sched, caplog):
    with pytest.raises(berth.WorkerNotFoundError) as e:
        sched.get_workers("nope")
    assert e.value.code == "not_found" and e.value.worker_id == "nope"
    with pytest.raises(berth.WorkerNotFoundError) as e:
        sched.fork_workers("f", "nope")
    assert e.value.worker_id == "nope"
    # delete_workers of an unknown role: a warning, as AReaL.
    with caplog.at_level(logging.WARNING, logger="berth"):
        sched.delete_workers("nope")
    assert any("nope" in r.getMessage() for r in caplog.records)


def test_bad_strategy_type_raises_value_error(sched, demo_worker):
    with pytest.raises(ValueError):
        berth.SchedulingStrategy(type="gang")
    j = job("s", [demo_worker])
    j.scheduling_strategy.type = "gang"
    with pytest.raises(ValueError):
        sched.create_workers(j)
    assert sched.roles() == []


def test_missing_cmd_without_ports(sched):
    # No cmd is AReaL's RPC server, which needs a port for its --port.
    with pytest.raises(berth.WorkerCreationError, match="port_count 0"):
        sched.create_workers(berth.Job(role="x", replicas=1,
                                       tasks=[berth.SchedulingSpec(port_count=0, mem=1)]))
    assert sched.roles() == []


# --- colocation, forks, aliases, delete order -----------------------------------------------


def test_alias(sched, demo_worker):
    actor = sched.create_workers(job("actor", [demo_worker], replicas=2, gpu=1))
    alias = sched.create_workers(berth.Job(role="critic", replicas=2,
                                           scheduling_strategy=coloc("actor", fork=False)))
    assert alias == actor
    a, c = sched.get_workers("actor"), sched.get_workers("critic")
    assert [(w.id, w.pid) for w in c] == [(w.id, w.pid) for w in a]
    assert sched.roles() == ["actor", "critic"] and len(sched.workers()) == 2
    sched.delete_workers("critic")  # only the mapping goes
    assert sched.roles() == ["actor"]
    assert [w.pid for w in sched.get_workers("actor")] == [w.pid for w in a]


def test_fork_workers(sched, demo_worker):
    sched.create_workers(job("actor", [demo_worker], replicas=2, gpu=1))
    actor = sched.get_workers("actor")
    ids = sched.fork_workers("proxy", "actor", command=[demo_worker, "--startup-delay", "0.2"])
    assert ids == ["proxy/0", "proxy/1"]
    forks = sched.get_workers("proxy")
    for a, f in zip(actor, forks):
        assert f.fork_of == a.id and f.node == a.node and f.gpus == a.gpus
        assert f.pid != a.pid and f.argv[1:] == ["--startup-delay", "0.2"]
        assert set(f.ports.values()).isdisjoint(a.ports.values())
        env = worker_env(f)
        assert env["CUDA_VISIBLE_DEVICES"] == worker_env(a)["CUDA_VISIBLE_DEVICES"]
        assert env["BERTH_ROLE"] == "proxy"
    # A fork of a training role is a world of its own: its own MASTER_PORT.
    assert worker_env(forks[1])["MASTER_PORT"] == forks[0].worker_ports[1]
    assert forks[0].worker_ports[1] != actor[0].worker_ports[1]
    # Default command: the target's.
    assert sched.fork_workers("twin", "actor") == ["twin/0", "twin/1"]
    assert sched.get_workers("twin")[0].argv == actor[0].argv
    # A role name twice is an error.
    with pytest.raises(berth.WorkerCreationError):
        sched.fork_workers("proxy", "actor")


def test_colocated_fork_with_expected_job(tmp_path, demo_worker):
    ref = job("ref", [demo_worker], replicas=2, strategy=coloc("actor"), cpu=0.5, mem=0.5)
    actor = job("actor", [demo_worker], replicas=2, gpu=1, cpu=1, mem=1)
    # The fork's cpu is reserved in the actor's bundles: 2 x (1 + 0.5) = 3 CPUs.
    with berth.Scheduler(gpus=2, cpu=2.5, mem=8, log_dir=tmp_path / "a", grace=1.0,
                         expected_jobs=[ref]) as s:
        with pytest.raises(berth.PlacementError) as e:
            s.create_workers(actor)
        assert "CPU" in str(e.value)
    with berth.Scheduler(gpus=2, cpu=2.5, mem=8, log_dir=tmp_path / "b", grace=1.0) as s:
        assert s.create_workers(actor) == ["actor/0", "actor/1"]  # fits without the fork
    with berth.Scheduler(gpus=2, cpu=3, mem=8, log_dir=tmp_path / "c", grace=1.0,
                         expected_jobs=[ref]) as s:
        s.create_workers(actor)
        assert s.create_workers(ref) == ["ref/0", "ref/1"]
        a, r = s.get_workers("actor"), s.get_workers("ref")
        assert [w.fork_of for w in r] == ["actor/0", "actor/1"]
        assert [w.gpus for w in r] == [w.gpus for w in a]


def test_delete_order_forks_before_targets_rank0_last(sched, tmp_path):
    order = tmp_path / "order"
    rec = stop_recorder(order)
    ids = sched.create_workers(job("actor", rec, replicas=2, readiness="none"))
    ids += sched.create_workers(job("other", rec, replicas=1, readiness="none"))
    ids += sched.create_workers(job("ref", rec, replicas=2, readiness="none",
                                    strategy=coloc("actor"), cpu=0, mem=0))
    ids += sched.fork_workers("proxy", "actor")
    wait_armed(order, ids)
    sched.delete_workers("actor")
    stopped = order.read_text().split()
    assert sorted(stopped) == ["actor/0", "actor/1", "proxy/0", "proxy/1", "ref/0", "ref/1"]
    assert set(stopped[:4]) == {"proxy/0", "proxy/1", "ref/0", "ref/1"}
    assert stopped[4:] == ["actor/1", "actor/0"]
    assert sched.roles() == ["other"]

    order.unlink()
    for f in os.listdir(f"{order}.armed"):  # the new actor/0 and actor/1 must arm again
        if f.startswith("actor_"):
            os.unlink(os.path.join(f"{order}.armed", f))
    ids = sched.create_workers(job("actor", rec, replicas=2, readiness="none"))
    ids += sched.fork_workers("f", "actor")
    wait_armed(order, ids)
    sched.delete_workers()  # every role, in reverse creation order
    stopped = order.read_text().split()
    assert stopped == ["f/1", "f/0", "actor/1", "actor/0", "other/0"]
    assert sched.roles() == [] and sched.workers() == []


# --- plan -----------------------------------------------------------------------------------


def ppo_jobs(cmd):
    return [
        job("actor", cmd, replicas=2, gpu=1),
        job("rollout", cmd, replicas=2, gpu=1, instance=(2, 1), ray_placement_strategy="separate"),
        job("ref", cmd, replicas=2, strategy=coloc("actor"), cpu=0.5),
        berth.Job(role="critic", replicas=2, scheduling_strategy=coloc("actor", fork=False)),
    ]


def test_plan_on_declared_machine(demo_worker):
    p = berth.plan(ppo_jobs([demo_worker]), gpus=8, cpu=16, mem=64, name="ppo")
    assert p["experiment"] == "ppo"
    ws = {w["id"]: w for w in p["workers"]}
    assert set(ws) == {"actor/0", "actor/1", "rollout/0", "rollout/1", "ref/0", "ref/1"}
    assert ws["ref/1"]["fork_of"] == "actor/1" and ws["ref/1"]["gpus"] == ws["actor/1"]["gpus"]
    assert ws["actor/1"]["env"]["MASTER_PORT"] == str(ws["actor/0"]["ports"]["master"])
    assert len(ws["rollout/0"]["gpus"]) == 2
    assert p["aliases"] == [{"role": "critic", "target": "actor"}]


def test_plan_on_a_cluster_is_deterministic(two_nodes, tmp_path):
    jobs = [job("big", ["srv"], gpu=1, instance=(8, 1), ray_placement_strategy="deferred")]
    p1 = berth.plan(jobs, cluster=two_nodes)
    path = tmp_path / "cluster.json"
    path.write_text(__import__("json").dumps(two_nodes))
    p2 = berth.plan(jobs, cluster=str(path))
    assert p1 == p2
    assert [w["node"] for w in p1["workers"]] == ["n0", "n1"]
    assert [w["env"]["NODE_RANK"] for w in p1["workers"]] == ["0", "1"]


def test_plan_errors(demo_worker):
    with pytest.raises(berth.PlacementError) as e:
        berth.plan([job("huge", [demo_worker], gpu=16)], gpus=8)
    assert e.value.code == "infeasible" and "GPU" in str(e.value)
    with pytest.raises(berth.WorkerCreationError) as e:
        berth.plan([job("a", [demo_worker]), job("a", [demo_worker])], gpus=1)
    assert e.value.code == "invalid_spec" and not isinstance(e.value, berth.PlacementError)
    with pytest.raises(ValueError):
        berth.plan([job("a", [demo_worker])], cluster={"nodes": []}, gpus=1)


def test_scheduler_plan_uses_its_cluster(sched, demo_worker):
    assert len(sched.plan(job("a", [demo_worker], gpu=4))["workers"]) == 1
    with pytest.raises(berth.PlacementError):
        sched.plan(job("a", [demo_worker], gpu=5))
    assert sched.workers() == []  # a dry run


# --- the Scheduler object -------------------------------------------------------------------


def test_close_is_idempotent_and_final(tmp_path, demo_worker):
    s = berth.Scheduler(gpus=0, cpu=2, mem=2, log_dir=tmp_path / "l", grace=1.0)
    s.create_workers(job("a", [demo_worker], replicas=2))
    pids = [w.pid for w in s.get_workers("a")]
    s.close()
    s.close()
    assert s.closed and all(pid_gone(p) for p in pids)
    with pytest.raises(berth.SchedulerError, match="closed"):
        s.create_workers(job("b", [demo_worker]))
    with pytest.raises(berth.SchedulerError, match="closed"):
        s.roles()


def test_context_manager_deletes_workers(tmp_path, demo_worker):
    with berth.Scheduler(gpus=0, cpu=2, mem=2, log_dir=tmp_path / "l", grace=1.0) as s:
        s.create_workers(job("a", [demo_worker]))
        pid = s.get_workers("a")[0].pid
    assert pid_gone(pid)


def test_default_log_dir(tmp_path, monkeypatch, demo_worker):
    monkeypatch.chdir(tmp_path)
    with berth.Scheduler(gpus=0, cpu=2, mem=2, grace=1.0) as s:
        rel = os.path.relpath(s.log_dir, tmp_path)
        assert re.fullmatch(r"berth-runs/python-\d{8}-\d{6}-%d/logs" % os.getpid(), rel), rel
        s.create_workers(job("a", [demo_worker]))
        log = s.get_workers("a")[0].log_path
        assert log.startswith(s.log_dir) and os.path.exists(log)


def test_non_loopback_cluster_is_refused(tmp_path):
    cluster = {"nodes": [{"name": "far", "resources": {"CPU": 1},
                          "labels": {"address": "10.1.2.3"}}]}
    with pytest.raises(berth.WorkerCreationError) as e:
        berth.Scheduler(cluster=cluster, log_dir=tmp_path / "l")
    assert e.value.code == "invalid_spec" and "127.0.0.1" in str(e.value)


def test_threads_share_a_scheduler(sched, demo_worker):
    errors = []

    def make(role):
        try:
            sched.create_workers(job(role, [demo_worker, "--startup-delay", "0.2"]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=make, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(sched.roles()) == ["t0", "t1", "t2"]
    assert all(w.phase == "ready" for w in sched.workers())


def test_gil_is_released_while_waiting(sched, demo_worker):
    count = [0]
    stop = threading.Event()

    def spin():  # pure Python: runs only while the GIL is free
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        wait_until(lambda: count[0] > 0, 5, "the spinning thread to run")
        before = count[0]
        start = time.monotonic()
        sched.create_workers(job("slow", [demo_worker, "--startup-delay", "1"], timeout=10))
        waited = time.monotonic() - start
        during = count[0] - before
    finally:
        stop.set()
        t.join()
    assert waited >= 0.9
    # Holding the GIL for the wait would leave the other thread ~nothing; free, it counts
    # millions in a second.
    assert during > 100_000, during


def test_reading_from_another_thread_during_a_wait(sched, demo_worker):
    # _core's workers()/roles() lock the C++ Scheduler with the GIL held, and a waiting call
    # takes the GIL to check for Ctrl-C: the Python layer's lock keeps the two apart.
    creator = threading.Thread(target=sched.create_workers, args=(
        job("slow", [demo_worker, "--startup-delay", "1"], timeout=10),))
    seen = []
    reader = threading.Thread(target=lambda: seen.append((sched.roles(), len(sched.workers()))),
                              daemon=True)
    creator.start()
    # The create is waiting for readiness once its worker has started (and opened its log).
    wait_until(lambda: os.path.exists(os.path.join(sched.log_dir, "slow.0.log")), 10,
               "create_workers to start its worker")
    reader.start()
    reader.join(15)
    creator.join(15)
    assert not reader.is_alive(), "roles()/workers() deadlocked against create_workers"
    assert seen == [(["slow"], 1)]  # it waited for the create to finish
