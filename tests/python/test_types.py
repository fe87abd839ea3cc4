"""The pure-Python layer: Job -> role map, AReaL's dataclasses and their checks, and the
mapping of _core errors to AReaL's exceptions. No worker is started here."""

from __future__ import annotations

import json

import pytest

import berth
from berth.errors import from_core


def S(**kw):
    kw.setdefault("cmd", ["prog"])
    return berth.SchedulingSpec(**kw)


# --- dataclasses ----------------------------------------------------------------------------


def test_areal_defaults():
    s = berth.SchedulingSpec()
    assert (s.cpu, s.gpu, s.mem, s.port_count, s.env_vars, s.cmd) == (8, 0, 32, 2, {}, None)
    assert s.ray_placement_strategy == "shared"
    j = berth.Job(role="r")
    assert (j.replicas, j.tasks, j.scheduling_strategy) == (0, [], berth.SchedulingStrategy())
    st = berth.SchedulingStrategy()
    assert (st.type, st.target, st.fork) == ("separation", None, True)
    w = berth.Worker(id="r/0", ip="127.0.0.1")
    assert w.worker_ports == [] and w.engine_ports == []


def test_bad_strategy_type_is_value_error():
    with pytest.raises(ValueError, match="separation, colocation"):
        berth.SchedulingStrategy(type="spread")
    st = berth.SchedulingStrategy()
    st.type = "bogus"  # changed after construction: caught when the job is converted
    with pytest.raises(ValueError):
        berth.role_map(berth.Job(role="r", replicas=1, tasks=[S()], scheduling_strategy=st))
    # The enum works as the string.
    st = berth.SchedulingStrategy(type=berth.SchedulingStrategyType.colocation, target="a")
    assert st.type == "colocation"


def test_bad_ray_placement_strategy_is_value_error():
    with pytest.raises(ValueError, match="ray_placement_strategy"):
        berth.SchedulingSpec(ray_placement_strategy="spread")


def test_default_port_names():
    assert berth.default_port_names(0) == []
    assert berth.default_port_names(1) == ["http"]
    assert berth.default_port_names(4) == ["http", "master", "port2", "port3"]
    assert S(port_count=3).port_names() == ["http", "master", "port2"]
    assert S(ports=["rpc"], port_count=5).port_names() == ["rpc"]


# --- Job -> role map ------------------------------------------------------------------------


def test_role_map_shape():
    job = berth.Job(role="rollout", replicas=2,
                    tasks=[S(cpu=2, gpu=1, mem=4.5, cmd="python3 -m srv --name 'a b'",
                             env_vars={"K": "v"}, ray_placement_strategy="separate")],
                    instance=(2, 1), readiness="http:http/health", startup_timeout=12.5)
    m = berth.role_map(job)
    assert m == {
        "name": "rollout", "replicas": 2, "scheduling_strategy": {"type": "separation"},
        "placement": "separate", "instance": {"tp": 2, "pp": 1},
        "scheduling_spec": {"cpu": 2, "gpu": 1, "mem": 4.5, "ports": ["http", "master"],
                            "cmd": ["python3", "-m", "srv", "--name", "a b"],
                            "env_vars": {"K": "v"}},
        "readiness": {"http": {"port": "http", "path": "/health"}},
        "startup_timeout": 12.5,
    }
    json.dumps(m, allow_nan=False)  # plain JSON


def test_role_map_lists_specs_per_replica():
    m = berth.role_map(berth.Job(role="a", replicas=2, tasks=[S(cpu=1), S(cpu=2)]))
    assert [s["cpu"] for s in m["scheduling_spec"]] == [1, 2]


@pytest.mark.parametrize("text,expected", [
    (None, {"http": {"port": "http", "path": "/health"}}),  # AReaL's /health by default
    ("none", "none"),
    ("tcp:http", {"tcp": "http"}),
    ("http:http", {"http": {"port": "http", "path": "/health"}}),
    ("http:rpc/v1/ready", {"http": {"port": "rpc", "path": "/v1/ready"}}),
    ({"tcp": "x"}, {"tcp": "x"}),
])
def test_readiness_forms(text, expected):
    m = berth.role_map(berth.Job(role="a", replicas=1, tasks=[S()], readiness=text))
    assert m.get("readiness") == expected


@pytest.mark.parametrize("bad", ["tcp:", "http:", "grpc:x", "ready"])
def test_bad_readiness(bad):
    with pytest.raises(berth.WorkerCreationError, match="readiness"):
        berth.role_map(berth.Job(role="a", replicas=1, tasks=[S()], readiness=bad))


def test_colocation_and_alias_maps():
    fork = berth.role_map(berth.Job(
        role="ref", replicas=2, tasks=[S()],
        scheduling_strategy=berth.SchedulingStrategy(type="colocation", target="actor")))
    assert fork["scheduling_strategy"] == {"type": "colocation", "target": "actor", "fork": True}
    assert "placement" not in fork  # a colocated role lives in its target's bundles
    alias = berth.role_map(berth.Job(
        role="critic", replicas=2, tasks=[S()], readiness="tcp:http",
        scheduling_strategy=berth.SchedulingStrategy(type="colocation", target="actor",
                                                     fork=False)))
    assert alias == {"name": "critic", "replicas": 2,
                     "scheduling_strategy": {"type": "colocation", "target": "actor",
                                             "fork": False}}


def test_colocation_without_target():
    with pytest.raises(berth.WorkerCreationError, match="target"):
        berth.role_map(berth.Job(role="ref", replicas=1, tasks=[S()],
                                 scheduling_strategy=berth.SchedulingStrategy(type="colocation")))


def test_specs_must_agree_on_placement():
    job = berth.Job(role="a", replicas=3,
                    tasks=[S(), S(), S(ray_placement_strategy="separate")])
    with pytest.raises(berth.WorkerCreationError) as e:
        berth.role_map(job)
    assert "tasks[2]" in str(e.value) and "'separate'" in str(e.value)
    assert e.value.worker_key == "a"


def test_no_ports_no_default_readiness():
    m = berth.role_map(berth.Job(role="a", replicas=1, tasks=[S(port_count=0)]))
    assert "readiness" not in m


def test_no_specs():
    with pytest.raises(berth.WorkerCreationError, match="no scheduling specs"):
        berth.role_map(berth.Job(role="a", replicas=1))


@pytest.mark.parametrize("field,value", [("cpu", "1"), ("gpu", True), ("mem", float("nan"))])
def test_numbers_must_be_numbers(field, value):
    with pytest.raises(berth.WorkerCreationError, match=field):
        berth.role_map(berth.Job(role="a", replicas=1, tasks=[S(**{field: value})]))


def test_env_values_must_be_strings():
    with pytest.raises(berth.WorkerCreationError, match="env_vars"):
        berth.role_map(berth.Job(role="a", replicas=1, tasks=[S(env_vars={"N": 3})]))


# --- errors ---------------------------------------------------------------------------------


class FakeCoreError(Exception):
    pass


def core_error(code, message="what berth says", **extra):
    return FakeCoreError(json.dumps({"code": code, "message": message, **extra}))


FAILURE = {"worker": "a/1", "exit_code": 7, "description": "exited with code 7",
           "log_tail": "line 1\nboom\n"}


def test_error_hierarchy():
    for cls in (berth.WorkerCreationError, berth.WorkerFailedError, berth.WorkerNotFoundError,
                berth.WorkerTimeoutError, berth.PortAllocationError, berth.GPUAllocationError,
                berth.WorkerConfigurationError):
        assert issubclass(cls, berth.SchedulerError)
    assert issubclass(berth.PlacementError, berth.WorkerCreationError)


def test_areal_constructors_and_messages():
    e = berth.WorkerCreationError("a/0", "bad", "more")
    assert str(e) == "Failed to create worker 'a/0': bad\nDetails: more"
    assert (e.worker_key, e.reason, e.details, e.code) == ("a/0", "bad", "more", None)
    e = berth.WorkerFailedError("a/0", 3, "err")
    assert str(e) == "Worker 'a/0' failed with exit code 3\nStderr output:\nerr"
    assert (e.worker_id, e.exit_code, e.stderr) == ("a/0", 3, "err")
    assert str(berth.WorkerNotFoundError("x")) == "Worker 'x' not found"
    e = berth.WorkerTimeoutError("a/0", 5.0)
    assert str(e) == "Timeout waiting for worker 'a/0' (waited 5.0s)" and e.timeout == 5.0
    assert "Failed to allocate ports: p" == str(berth.PortAllocationError("p"))
    assert "Failed to allocate GPU resources: g" == str(berth.GPUAllocationError("g"))


@pytest.mark.parametrize("code,op,cls", [
    ("invalid_spec", "create_workers", berth.WorkerCreationError),
    ("not_found", "get_workers", berth.WorkerNotFoundError),
    ("infeasible", "create_workers", berth.PlacementError),
    ("unavailable", "fork_workers", berth.PlacementError),
    ("backend", "create_workers", berth.SchedulerError),
    ("internal", "get_workers", berth.SchedulerError),
])
def test_codes_map_to_exceptions(code, op, cls):
    e = from_core(core_error(code, "the full explanation\nper node"), op, "role")
    assert type(e) is cls
    assert e.code == code
    assert "the full explanation\nper node" in str(e)
    assert e.explanation == "the full explanation\nper node"


def test_worker_failed_at_create_is_creation_error():
    msg = "worker a/1 exited with code 7 during start-up; last lines of a.1.log:\n    | boom"
    e = from_core(core_error("worker_failed", msg, **FAILURE), "create_workers", "a")
    assert type(e) is berth.WorkerCreationError
    assert (e.code, e.worker, e.exit_code, e.log_tail) == ("worker_failed", "a/1", 7,
                                                           FAILURE["log_tail"])
    assert e.details == "exit code 7; last lines of its log:\n" + FAILURE["log_tail"]
    # berth's message quotes the log once; the message does not repeat it.
    assert str(e) == f"Failed to create worker 'a/1': {msg}\nDetails: exit code 7"


def test_worker_failed_at_get_is_failed_error():
    msg = "worker a/1 exited with code 7; last lines of a.1.log:\n    | boom"
    e = from_core(core_error("worker_failed", msg, **FAILURE), "get_workers", "a")
    assert type(e) is berth.WorkerFailedError
    assert (e.worker_id, e.exit_code, e.stderr, e.code) == ("a/1", 7, FAILURE["log_tail"],
                                                            "worker_failed")
    assert str(e) == f"Worker 'a/1' failed with exit code 7\n{msg}"


def test_timeout_maps_with_its_seconds():
    info = dict(FAILURE, exit_code=1, description="not ready within 2 s")
    e = from_core(core_error("timeout", "not ready", **info), "create_workers", "a", timeout=2.0)
    assert type(e) is berth.WorkerTimeoutError
    assert (e.worker_key, e.timeout, e.code, e.description) == ("a/1", 2.0, "timeout",
                                                                "not ready within 2 s")


def test_malformed_core_error_is_internal():
    e = from_core(FakeCoreError("not json"), "get_workers", "a")
    assert type(e) is berth.SchedulerError and e.code == "internal" and "not json" in str(e)


def test_role_map_with_a_launcher_has_no_cmd():
    job = berth.Job(role="rollout", replicas=1, instance=(2, 1),
                    tasks=[berth.SchedulingSpec(cpu=1, gpu=1, mem=1, ports=["http"])],
                    launcher={"kind": "vllm", "args": ("/models/m",)})
    m = berth.role_map(job)
    assert m["launcher"] == {"kind": "vllm", "args": ["/models/m"]}
    assert "cmd" not in m["scheduling_spec"]
    json.dumps(m, allow_nan=False)
    # Without a launcher, no cmd is AReaL's RPC server; a launcher must be a dict.
    m = berth.role_map(berth.Job(role="a", replicas=1, tasks=[berth.SchedulingSpec()]))
    assert "areal.infra.rpc.rpc_server" in m["scheduling_spec"]["cmd"]
    with pytest.raises(berth.WorkerCreationError, match="launcher must be a dict"):
        berth.role_map(berth.Job(role="a", replicas=1, tasks=[S()], launcher="vllm"))
