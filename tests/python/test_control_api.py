"""The control API of a running `berth run` (docs/control-api.md): the token file, and that a
request is served only with the run's token.

    BERTH_BIN=<build>/berth BERTH_DEMO_WORKER=<build>/berth-demo-worker \
    /usr/bin/python3 -m pytest tests/python/test_control_api.py

Needs only the berth program and the demo worker, not the Python module.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from berth_test_helpers import wait_until


def _program(env: str, name: str) -> str:
    path = os.environ.get(env) or str(Path.cwd() / name)
    if not os.access(path, os.X_OK):
        pytest.skip(f"{env} is not set to an executable {name} (got {path!r})")
    return os.path.abspath(path)


def _phase(run_dir: Path) -> str:
    try:
        return json.loads((run_dir / "state.json").read_text())["phase"]
    except (OSError, ValueError, KeyError):
        return ""


class ControlRun:
    """A `berth run` of one demo worker, with its control API's address and token."""

    def __init__(self, tmp: Path):
        berth = _program("BERTH_BIN", "berth")
        worker = _program("BERTH_DEMO_WORKER", "berth-demo-worker")
        self.run_dir = tmp / "run"
        experiment = tmp / "exp.yaml"
        experiment.write_text(
            "name: pycontrol\n"
            "cluster: {gpus: 1, cpu: 2, mem: 1}\n"
            "roles:\n"
            "  - name: actor\n"
            "    replicas: 1\n"
            "    placement: separate\n"
            f"    scheduling_spec: {{cpu: 0.5, gpu: 1, ports: [http], cmd: [{worker}]}}\n"
            "    readiness: {http: {port: http, path: /health}}\n")
        self.out = open(tmp / "run.out", "wb")
        self.proc = subprocess.Popen([berth, "run", str(experiment), "--run-dir", str(self.run_dir),
                                      "--grace", "1"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        wait_until(lambda: _phase(self.run_dir) == "running" or self.proc.poll() is not None, 30,
                  "berth run to be running")
        assert self.proc.poll() is None, (tmp / "run.out").read_text()
        address = json.loads((self.run_dir / "control.json").read_text())
        self.port = address["port"]
        assert address["url"] == f"http://127.0.0.1:{self.port}"
        assert address["pid"] == self.proc.pid
        self.token_path = self.run_dir / "control.token"
        self.token = self.token_path.read_text().strip()

    def request(self, method: str, path: str, token: str | None = "", body=None):
        """(status, JSON body). token "" is the run's; None sends no Authorization header."""
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + (token or self.token)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


@pytest.fixture(scope="module")
def control_run(tmp_path_factory):
    run = ControlRun(tmp_path_factory.mktemp("control"))
    yield run
    run.close()


def test_token_file_is_0600_and_64_hex_digits(control_run):
    st = control_run.token_path.lstat()
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    assert len(control_run.token) == 64
    int(control_run.token, 16)


def test_request_without_token_is_refused(control_run):
    status, body = control_run.request("GET", "/v1/status", token=None)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert "control.token" in body["error"]["message"]
    # Nothing done: a refused down leaves berth running. Requests are answered in order, so
    # the next one sees whatever the refused one did.
    status, _ = control_run.request("POST", "/v1/down", token=None)
    assert status == 401
    status, body = control_run.request("GET", "/v1/status")
    assert (status, body["phase"]) == (200, "running")
    assert control_run.proc.poll() is None


def test_request_with_a_wrong_token_is_refused(control_run):
    wrong = "0" * 64 if control_run.token != "0" * 64 else "1" * 64
    for method, path in [("GET", "/v1/status"), ("GET", "/v1/roles"), ("DELETE", "/v1/roles/actor"),
                         ("POST", "/v1/down")]:
        status, body = control_run.request(method, path, token=wrong)
        assert status == 401, (method, path, body)
        assert body["error"]["code"] == "unauthorized"
    # A prefix of the right token is wrong too.
    status, _ = control_run.request("GET", "/v1/status", token=control_run.token[:-1])
    assert status == 401
    status, body = control_run.request("GET", "/v1/status")
    assert (status, body["phase"]) == (200, "running")
    assert control_run.proc.poll() is None
    status, body = control_run.request("GET", "/v1/roles")
    assert (status, body) == (200, {"roles": ["actor"]})


def test_request_with_the_token_works(control_run):
    status, body = control_run.request("GET", "/v1/status")
    assert status == 200, body
    assert body["experiment"] == "pycontrol"
    assert body["phase"] == "running"
    assert body["berth_pid"] == control_run.proc.pid
    [worker] = body["workers"]
    assert worker["id"] == "actor/0" and worker["state"] == "ready"
    assert worker["ports"]["http"] > 0
    status, body = control_run.request("GET", "/v1/roles/actor/workers?timeout=5")
    assert status == 200, body
    assert [w["id"] for w in body["workers"]] == ["actor/0"]
    status, body = control_run.request("GET", "/v1/roles/nope/workers")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = control_run.request("POST", "/v1/roles", body="{not json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]


def test_down_through_the_api(tmp_path):
    run = ControlRun(tmp_path)
    try:
        status, body = run.request("POST", "/v1/down")
        assert (status, body) == (200, {"stopping": True})
        assert run.proc.wait(timeout=30) == 0
        assert not (run.run_dir / "control.token").exists()
        assert not (run.run_dir / "control.json").exists()
        assert _phase(run.run_dir) == "stopped"
    finally:
        run.close()
