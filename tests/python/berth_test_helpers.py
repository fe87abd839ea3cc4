"""Helpers shared by the tests of the berth Python module (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from typing import Any, Dict, List


def spec(cmd, **kw):
    """A small SchedulingSpec (1 CPU, 0.5 GiB, no GPU, ports http + master) running cmd."""
    import berth

    kw.setdefault("cpu", 1)
    kw.setdefault("mem", 0.5)
    kw.setdefault("gpu", 0)
    return berth.SchedulingSpec(cmd=cmd, **kw)


def http_json(ip: str, port, path: str, timeout: float = 5.0) -> Any:
    """GET http://ip:port/path and decode the JSON body (retrying while it is not up yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=2) as r:
                return json.loads(r.read().decode("utf-8"))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def worker_env(w) -> Dict[str, str]:
    """The environment a demo worker reports about itself (GET /env on its first port)."""
    return http_json(w.ip, w.worker_ports[0], "/env")


def pid_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once no process `pid` runs (a zombie counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return True
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        time.sleep(0.02)
    return False


def pids_with_env(marker: str) -> List[int]:
    """Processes of this user whose environment holds `marker`."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def child_env(pythonpath: str, **extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def wait_until(predicate, timeout: float, what: str):
    """predicate()'s first true value, asked every 20 ms; AssertionError naming `what` at the
    deadline. Tests wait on a condition with this, never with a bare sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
