"""An AReaL controller's calls on berth.Scheduler, with AReaL's own kind of objects
(areal_objects.py) and the stand-in of AReaL's RPC server (areal_standin/): the API gaps of
issue 16 (signatures, properties, duck typing, default command, exact ports, forks)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import urllib.request

import pytest

import berth
from areal_objects import (STANDIN, Cluster, ExpConfig, Job, SchedulingSpec, SchedulingStrategy,
                           SchedulingStrategyType, rpc_spec)
from berth_test_helpers import http_json, spec, worker_env


def info(w):
    """What the stand-in RPC server behind worker w was started with."""
    return http_json(w.ip, w.worker_ports[0], "/standin/info")


@pytest.fixture
def areal_sched(tmp_path):
    s = berth.Scheduler(gpus=4, cpu=8, mem=16, log_dir=tmp_path / "logs", grace=1.0,
                        experiment_name="exp1", trial_name="t1", fileroot=str(tmp_path / "fr"))
    yield s
    s.close()


def test_areal_job_runs_the_rpc_server_with_localschedulers_arguments(areal_sched, tmp_path):
    ids = areal_sched.create_workers(Job(role="actor", replicas=2, tasks=[rpc_spec(gpu=1)]))
    assert ids == ["actor/0", "actor/1"]
    ws = areal_sched.get_workers("actor")
    for i, w in enumerate(ws):
        assert len(w.worker_ports) == 2  # port_count, exactly
        a = info(w)["args"]
        assert (a["role"], a["worker_index"], a["port"]) == ("actor", i, int(w.worker_ports[0]))
        assert (a["experiment_name"], a["trial_name"]) == ("exp1", "t1")
        assert a["fileroot"] == str(tmp_path / "fr")
        assert (a["name_resolve_type"], a["nfs_record_root"], a["etcd3_addr"]) == \
            ("nfs", "/tmp/areal/name_resolve", "localhost:2379")
        assert w.argv[4:7] == [sys.executable, "-m", "areal.infra.rpc.rpc_server"]
    # A cmd that is just `python -m areal.<module>` gets the same arguments, python resolved.
    areal_sched.create_workers(Job(role="gen", replicas=1, tasks=[
        rpc_spec(cmd="python3 -m areal.infra.rpc.rpc_server")]))
    g = areal_sched.get_workers("gen")[0]
    assert info(g)["args"]["role"] == "gen" and sys.executable in g.argv
    # ... and so does one with arguments of its own (but no --port: AReaL refuses that too).
    areal_sched.create_workers(Job(role="gen2", replicas=1, tasks=[
        rpc_spec(cmd="python -m areal.infra.rpc.rpc_server --werkzeug-log-level error")]))
    a = info(areal_sched.get_workers("gen2")[0])["args"]
    assert (a["role"], a["werkzeug_log_level"]) == ("gen2", "error")


def test_get_workers_waits_for_health_by_default(sched, demo_worker):
    # No readiness given: AReaL's, /health on the first port, so the worker answers at once.
    sched.create_workers(berth.Job(role="w", replicas=1, tasks=[
        spec([demo_worker, "--startup-delay", "0.3"])]))
    w = sched.get_workers("w")[0]
    with urllib.request.urlopen(f"http://{w.ip}:{w.worker_ports[0]}/health", timeout=2) as r:
        assert r.status == 200


def test_port_count_is_exact(sched, demo_worker):
    sched.create_workers(berth.Job(role="t", replicas=2, tasks=[spec([demo_worker],
                                                                     port_count=1)]))
    ws = sched.get_workers("t")
    assert [len(w.worker_ports) for w in ws] == [1, 1]
    # berth still gives the training world its MASTER_PORT (a port of rank 0's own).
    master = worker_env(ws[1])["MASTER_PORT"]
    assert master == str(ws[0].ports["master"]) and master not in ws[0].worker_ports


def test_areals_fork_spec_needs_no_berth_field(sched, demo_worker):
    sched.create_workers(berth.Job(role="actor", replicas=2,
                                   tasks=[spec([demo_worker], gpu=1, cpu=3, mem=6)]))
    # AReaL's ref role: colocated, fork by default, with a spec as big as the actor's and a
    # strategy of AReaL's own class (its own enum); no expected_jobs.
    ref = Job(role="ref", replicas=2,
              tasks=[SchedulingSpec(cpu=8, gpu=1, mem=32, cmd=demo_worker)],
              scheduling_strategy=SchedulingStrategy(
                  type=SchedulingStrategyType.colocation, target="actor"))
    assert sched.create_workers(ref) == ["ref/0", "ref/1"]
    a, r = sched.get_workers("actor"), sched.get_workers("ref")
    assert [w.gpus for w in r] == [w.gpus for w in a]
    assert [w.fork_of for w in r] == ["actor/0", "actor/1"]


def test_delete_workers_reverse_order(sched, demo_worker):
    sched.create_workers(berth.Job(role="a", replicas=2, tasks=[spec([demo_worker])]))
    with pytest.raises(TypeError, match="reverse_order must be a bool"):
        sched.delete_workers("a", reverse_order="yes")
    sched.delete_workers(role="a", reverse_order=True)
    assert sched.roles() == []
    sched.delete_workers(None, reverse_order=False)


def test_n_gpus_per_node(sched, tmp_path, two_nodes):
    assert sched.n_gpus_per_node == 4
    with berth.Scheduler(cluster=two_nodes, log_dir=tmp_path / "a") as s:
        assert s.n_gpus_per_node == 4
    with berth.Scheduler(gpus=2, n_gpus_per_node=8, log_dir=tmp_path / "b") as s:
        assert s.n_gpus_per_node == 8
    exp = ExpConfig(cluster=Cluster(n_gpus_per_node=2))
    with berth.Scheduler(gpus=4, exp_config=exp, n_gpus_per_node=8, log_dir=tmp_path / "c") as s:
        assert s.n_gpus_per_node == 2  # exp_config wins, as in AReaL
    with berth.Scheduler(gpu_devices=[0, 1, 2], log_dir=tmp_path / "d") as s:
        assert s.n_gpus_per_node == 3


def test_constructor_keywords(tmp_path):
    with pytest.raises(TypeError) as e:
        berth.Scheduler(log_dir=tmp_path, gpu_device=[0], bogus=1)
    assert "'bogus', 'gpu_device'" in str(e.value) and "gpu_devices" in str(e.value)
    with pytest.raises(ValueError, match="exp_config has no trial_name"):
        berth.Scheduler(log_dir=tmp_path, exp_config=ExpConfig(trial_name=None))
    with pytest.raises(ValueError, match="container_type='apptainer'"):
        berth.Scheduler(log_dir=tmp_path, container_type="apptainer")
    with pytest.raises(ValueError, match=r"gpu_devices=\[2, 3\]"):
        berth.Scheduler(log_dir=tmp_path, gpu_devices=[2, 3])
    with pytest.raises(ValueError, match="startup_timeout must be seconds > 0, got -1"):
        berth.Scheduler(log_dir=tmp_path, startup_timeout=-1)


def test_exp_config_names_the_workers_arguments(tmp_path):
    exp = ExpConfig(experiment_name="e", trial_name="t", cluster=Cluster(fileroot=str(tmp_path)))
    with berth.Scheduler(gpus=0, cpu=4, mem=8, exp_config=exp, experiment_name="ignored") as s:
        # log_dir: AReaL's {fileroot}/logs/{user}/{experiment}/{trial}
        assert s.log_dir.startswith(str(tmp_path / "logs")) and s.log_dir.endswith("/e/t")
        s.create_workers(Job(role="r", replicas=1, tasks=[rpc_spec()]))
        a = info(s.get_workers("r")[0])["args"]
        assert (a["experiment_name"], a["trial_name"], a["fileroot"]) == ("e", "t", str(tmp_path))


def test_exp_config_is_configured_into_each_rpc_server(tmp_path):
    exp = ExpConfig(experiment_name="e", trial_name="t", cluster=Cluster(fileroot=str(tmp_path)))
    with berth.Scheduler(gpus=0, cpu=4, mem=8, exp_config=exp) as s:
        s.create_workers(Job(role="r", replicas=2, tasks=[rpc_spec()]))
        for i, w in enumerate(s.get_workers("r")):
            got = info(w)["configured"]
            assert got["rank"] == i and got["config"]["experiment_name"] == "e"
            assert got["config"]["cluster"]["fileroot"] == str(tmp_path)
        # A worker that refuses it: WorkerConfigurationError, and the role is gone again.
        with pytest.raises(berth.WorkerConfigurationError) as e:
            s.create_workers(Job(role="bad", replicas=2, tasks=[
                rpc_spec(), rpc_spec(env_vars={"STANDIN_CONFIGURE_FAIL": "1"})]))
        assert e.value.worker_key == "bad/1" and "configure failed (stand-in)" in str(e.value)
        assert s.roles() == ["r"]


def test_scheduling_spec_has_areals_fields_and_defaults():
    s = berth.SchedulingSpec()
    assert (s.cpu, s.gpu, s.mem, s.port_count, s.cmd) == (8, 0, 32, 2, None)
    assert s.image == "/storage/openpsi/images/areal-latest.sif" and s.task_type == "worker"
    assert s.srun_additional_args == "--unbuffered --mpi=pmi2 -K --chdir $PWD"
    assert (s.additional_bash_cmds, s.container_type, s.mount) == (None, "apptainer",
                                                                   "/storage:/storage")
    assert (s.nodelist, s.exclude, s.ray_placement_strategy) == (None, None, "shared")


@pytest.mark.parametrize("name", ["nodelist", "exclude"])
def test_node_constraints_are_refused_by_name(sched, name):
    j = Job(role="x", replicas=1, tasks=[rpc_spec(**{name: "node[1-2]"})])
    with pytest.raises(berth.WorkerCreationError) as e:
        sched.create_workers(j)
    assert f"tasks[0].{name} is 'node[1-2]'" in str(e.value)
    assert sched.roles() == []


def test_additional_bash_cmds_run_before_the_worker(sched, demo_worker, tmp_path):
    marker = tmp_path / "ran"
    sched.create_workers(berth.Job(role="b", replicas=1, tasks=[spec(
        [demo_worker], additional_bash_cmds=[f"touch {marker}", "export FROM_BASH='a {b}'"])]))
    w = sched.get_workers("b")[0]
    assert marker.exists() and worker_env(w)["FROM_BASH"] == "a {b}"
    # A failing line stops the worker from starting.
    with pytest.raises(berth.WorkerCreationError):
        sched.create_workers(berth.Job(role="c", replicas=1, tasks=[spec(
            [demo_worker], additional_bash_cmds=["false"])], startup_timeout=5))


def test_not_a_job_is_a_type_error(sched):
    with pytest.raises(TypeError, match="expected a Job"):
        sched.create_workers("actor")
    with pytest.raises(TypeError, match="expected a SchedulingSpec"):
        sched.create_workers(Job(role="x", replicas=1, tasks=[42]))


def test_fork_workers_runs_a_module_as_areal(areal_sched):
    areal_sched.create_workers(Job(role="rollout", replicas=2, tasks=[rpc_spec()]))
    ids = areal_sched.fork_workers("proxy-rollout", "rollout", "areal.infra.rpc.rpc_server")
    assert ids == ["proxy-rollout/0", "proxy-rollout/1"]
    for i, w in enumerate(areal_sched.get_workers("proxy-rollout")):
        a = info(w)["args"]
        assert (a["role"], a["worker_index"], a["port"]) == ("proxy-rollout", i,
                                                             int(w.worker_ports[0]))
        assert len(w.worker_ports) == 2
    # None: AReaL's RPC server for a target that runs it.
    areal_sched.fork_workers("twin", "rollout")
    assert info(areal_sched.get_workers("twin")[1])["args"]["role"] == "twin"
    with pytest.raises(ValueError, match="not a Python module name"):
        areal_sched.fork_workers("bad", "rollout", "python3 -m x")
    with pytest.raises(berth.WorkerNotFoundError):
        areal_sched.fork_workers("p", "nope", "areal.infra.rpc.rpc_server")


def test_new_exceptions_have_areals_messages():
    e = berth.EngineCreationError("a/0", "boom", 500)
    assert str(e) == "Failed to create engine on worker 'a/0': boom (HTTP 500)"
    assert (e.worker_id, e.reason, e.status_code) == ("a/0", "boom", 500)
    e = berth.EngineCallError("a/0", "step", "bad", attempt=3)
    assert str(e) == "Failed to call method 'step' on worker 'a/0': bad (after 3 attempts)"
    assert str(berth.EngineCallError("a/0", "m", "r")) == \
        "Failed to call method 'm' on worker 'a/0': r"
    e = berth.RPCConnectionError("a/0", "127.0.0.1", 80, "refused")
    assert str(e) == "Failed to connect to worker 'a/0' at 127.0.0.1:80: refused"
    assert str(berth.EngineImportError("x.Y", "no module")) == \
        "Failed to import engine 'x.Y': no module"
    e = berth.EngineCallError("a/0", "m", "r", explanation="berth: why")
    assert str(e).endswith("\nberth: why")
    for cls in (berth.EngineCreationError, berth.EngineCallError, berth.RPCConnectionError,
                berth.EngineImportError):
        assert issubclass(cls, berth.SchedulerError)


def test_standin_is_not_importable_here():
    # The tests speak JSON: `areal` must not be importable in the test process itself.
    assert STANDIN not in sys.path


def test_a_mapping_is_a_job_too():
    # An OmegaConf-style config (attribute or key access) with AReaL's field names.
    m = berth.role_map({"role": "r", "replicas": 2,
                        "tasks": [{"cpu": 2, "mem": 4, "gpu": 1, "env_vars": {"A": "b"}}],
                        "scheduling_strategy": {"type": "separation"}})
    sp = m["scheduling_spec"]
    assert (m["name"], m["replicas"], sp["cpu"], sp["mem"], sp["gpu"]) == ("r", 2, 2, 4, 1)
    assert sp["ports"] == ["http", "master"] and sp["env_vars"]["A"] == "b"
    # AReaL's PYTHONPATH for its workers: the cwd, the controller's sys.path, its PYTHONPATH.
    path = sp["env_vars"]["PYTHONPATH"].split(os.pathsep)
    assert path[0] == os.getcwd()
    assert {p for p in sys.path if p and not p.endswith(".zip")} <= set(path)
    assert "areal.infra.rpc.rpc_server" in sp["cmd"]
    assert m["readiness"] == {"http": {"port": "http", "path": "/health"}}
    with pytest.raises(TypeError, match="lacks the field"):
        berth.role_map({"replicas": 1})


def test_sync_calls_from_threads_run_side_by_side(areal_sched):
    areal_sched.create_workers(Job(role="a", replicas=2, tasks=[rpc_spec()]))
    for w in areal_sched.get_workers("a"):
        asyncio.run(areal_sched.create_engine(w.id, "standin_engine.EchoEngine"))
    got = []
    threads = [threading.Thread(target=lambda i=i: got.append(
        areal_sched.call_engine(f"a/{i}", "sleep", None, 0.5))) for i in range(2)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert got == [0.5, 0.5] and time.monotonic() - t < 0.95  # the GIL was released


def test_plan_takes_areal_jobs():
    p = berth.plan(Job(role="actor", replicas=2, tasks=[rpc_spec(gpu=1)]), gpus=2, cpu=4, mem=8)
    assert [w["id"] for w in p["workers"]] == ["actor/0", "actor/1"]
    assert "areal.infra.rpc.rpc_server" in p["workers"][0]["argv"]
