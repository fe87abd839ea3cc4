"""Fixtures for the tests of the berth Python module (helpers: berth_test_helpers.py).

Run from a build directory (as ctest's test `python` does):

    PYTHONPATH=<build>/python BERTH_BIN=<build>/berth \
    BERTH_DEMO_WORKER=<build>/berth-demo-worker /usr/bin/python3 -m pytest -q tests/python
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[2]


def _find(env: str, name: str) -> str:
    path = os.environ.get(env)
    if not path:
        # ctest runs the suite in the build directory.
        guess = Path.cwd() / name
        path = str(guess) if guess.exists() else ""
    if not path or not os.access(path, os.X_OK):
        pytest.exit(f"{env} is not set to an executable {name} (got {path!r}); run the suite "
                    f"from the build directory or set {env}", returncode=2)
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def demo_worker() -> str:
    """The path of berth-demo-worker: serves /health and /env on every BERTH_PORT_*."""
    return _find("BERTH_DEMO_WORKER", "berth-demo-worker")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def pythonpath() -> str:
    """PYTHONPATH for child Python processes: the folder that holds the built berth package."""
    import berth

    return str(Path(berth.__file__).resolve().parents[1])


@pytest.fixture
def sched(tmp_path):
    """A Scheduler on this machine with declared resources (4 GPUs, 8 CPUs, 16 GiB), logs in
    tmp_path/logs, a 1 s grace; closed after the test."""
    import berth

    s = berth.Scheduler(gpus=4, cpu=8, mem=16, log_dir=tmp_path / "logs", grace=1.0)
    yield s
    s.close()


TWO_NODES = {
    "nodes": [
        {"name": "n0", "resources": {"CPU": 8, "GPU": 4, "memory": 16 << 30}},
        {"name": "n1", "resources": {"CPU": 8, "GPU": 4, "memory": 16 << 30}},
    ]
}


@pytest.fixture
def two_nodes():
    """A declared cluster of two nodes of 4 GPUs, 8 CPUs, 16 GiB (emulated on this machine)."""
    import copy

    return copy.deepcopy(TWO_NODES)
