"""No worker outlives the Python process that started it, however that process ends; Ctrl-C
during a wait rolls the call back and raises KeyboardInterrupt. Each test runs a child
/usr/bin/python3 that creates workers carrying a unique marker in their environment, and
then scans /proc for that marker."""

from __future__ import annotations

import select
import signal
import subprocess
import textwrap
import time
import uuid

import pytest

from berth_test_helpers import PYTHON, child_env, pids_with_env

CHILD = textwrap.dedent("""
    import os, sys, time
    import berth

    marker, demo, mode, log_dir = sys.argv[1:5]
    s = berth.Scheduler(gpus=0, cpu=4, mem=4, log_dir=log_dir, grace=1.0)
    spec = berth.SchedulingSpec(cpu=0.5, mem=0.1, cmd=[demo],
                                env_vars={"MARKER_OF_TEST": marker})
    if mode == "interrupt":
        print("creating", flush=True)
        try:
            s.create_workers(berth.Job(role="slow", replicas=2, tasks=[
                berth.SchedulingSpec(cpu=0.5, mem=0.1, cmd=[demo, "--startup-delay", "60"],
                                     env_vars={"MARKER_OF_TEST": marker})],
                readiness="http:http/health", startup_timeout=60))
        except KeyboardInterrupt:
            print("interrupted roles=%r workers=%d" % (s.roles(), len(s.workers())), flush=True)
            sys.exit(0)
        print("not interrupted", flush=True)
        sys.exit(1)
    s.create_workers(berth.Job(role="w", replicas=2, tasks=[spec], readiness="tcp:http"))
    s.fork_workers("f", "w")
    print("ready", flush=True)
    if mode == "sleep":
        time.sleep(120)
    elif mode == "exit":
        sys.exit(0)          # no close(): the atexit hook closes it
    elif mode == "os_exit":
        os._exit(0)          # no atexit either: the supervisor sees its parent go
    elif mode == "raise":
        raise RuntimeError("the controller crashed")
""")


def read_line(proc, timeout=20.0):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        pytest.fail(f"child printed nothing within {timeout} s; stderr: {proc.stderr.read()}")
    return proc.stdout.readline().strip()


def wait_none_left(marker, timeout=10.0):
    deadline = time.monotonic() + timeout
    left = pids_with_env(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = pids_with_env(marker)
    return left


def start_child(tmp_path, pythonpath, demo_worker, mode):
    marker = "berth-test-" + uuid.uuid4().hex
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([PYTHON, str(script), marker, demo_worker, mode,
                             str(tmp_path / "logs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(pythonpath))
    return proc, marker


@pytest.mark.parametrize("mode", ["sleep", "exit", "os_exit", "raise"])
def test_no_worker_outlives_the_python_process(tmp_path, pythonpath, demo_worker, mode):
    proc, marker = start_child(tmp_path, pythonpath, demo_worker, mode)
    try:
        assert read_line(proc) == "ready"
        running = pids_with_env(marker)
        if mode == "sleep":
            assert len(running) == 4  # 2 workers and 2 forks
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if mode == "sleep":
        assert proc.returncode == -signal.SIGKILL
    elif mode == "raise":
        assert proc.returncode == 1 and "the controller crashed" in proc.stderr.read()
    else:
        assert proc.returncode == 0
    assert wait_none_left(marker) == []


def test_ctrl_c_during_a_wait_rolls_back(tmp_path, pythonpath, demo_worker):
    proc, marker = start_child(tmp_path, pythonpath, demo_worker, "interrupt")
    try:
        assert read_line(proc) == "creating"
        deadline = time.monotonic() + 10
        while len(pids_with_env(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(pids_with_env(marker)) == 2  # started, waiting for readiness
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = read_line(proc)
        assert time.monotonic() - start < 5
        assert line == "interrupted roles=[] workers=0"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_none_left(marker) == []
