"""Launch presets through the Python API (Job.launcher), with the stand-ins of
tests/launchers in place of vLLM and torchrun: berth renders their flags from the
placement, the stand-ins check them and serve /health."""

from __future__ import annotations

import berth
import pytest
from berth_test_helpers import http_json


@pytest.fixture(scope="module")
def standins(repo):
    return repo / "tests" / "launchers"


def test_vllm_preset_renders_tp_and_port(sched, standins):
    ids = sched.create_workers(berth.Job(
        role="rollout", replicas=2, instance=(2, 1),
        tasks=[berth.SchedulingSpec(cpu=1, gpu=1, mem=0.5, ports=["http"])],
        launcher={"kind": "vllm", "program": [str(standins / "vllm"), "serve"],
                  "args": ["/models/m"]},
        startup_timeout=20))
    assert ids == ["rollout/0", "rollout/1"]
    for w in sched.get_workers("rollout"):
        argv = w.argv
        assert argv[argv.index("--tensor-parallel-size") + 1] == "2"
        assert argv[argv.index("--port") + 1] == str(w.ports["http"])
        assert len(w.env["CUDA_VISIBLE_DEVICES"].split(",")) == 2
        # The stand-in accepted the flags and serves (the readiness check was /health).
        info = http_json(w.ip, w.ports["http"], "/standin")
        assert info["tp"] == 2 and info["model"] == "/models/m"


def test_bad_preset_is_refused_naming_the_field(sched, standins):
    with pytest.raises(berth.WorkerCreationError, match=r"launcher\.kind: vllm serves instances"):
        sched.create_workers(berth.Job(
            role="r", replicas=1, tasks=[berth.SchedulingSpec(cpu=1, gpu=1, mem=0.5)],
            launcher={"kind": "vllm"}))
    with pytest.raises(berth.WorkerCreationError, match="unknown kind"):
        sched.create_workers(berth.Job(
            role="r", replicas=1, tasks=[berth.SchedulingSpec(cpu=1, gpu=1, mem=0.5)],
            launcher={"kind": "deepspeed"}))
