"""The example controller and the benchmark's Python side run and say what they should."""

from __future__ import annotations

import re
import subprocess

from berth_test_helpers import PYTHON, child_env


def test_ppo_controller_example(repo, pythonpath, tmp_path):
    r = subprocess.run([PYTHON, str(repo / "examples" / "ppo_controller.py"),
                        "--log-dir", str(tmp_path / "logs"), "--steps", "2"],
                       env=child_env(pythonpath), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MISMATCH" not in r.stdout
    assert re.search(r"^OK: \d+ checks$", r.stdout, re.M), r.stdout
    assert "payloads: json" in r.stdout
    assert re.search(r"^  step 2: 6 samples, loss [0-9.]+, version 2$", r.stdout, re.M), r.stdout
    for role in ("rollout", "actor", "ref", "proxy-rollout"):
        assert f"delete_workers({role})" in r.stdout
    # Forks and colocated roles go before their targets.
    out = r.stdout
    assert out.index("delete_workers(proxy-rollout)") < out.index("delete_workers(rollout)")
    assert out.index("delete_workers(ref)") < out.index("delete_workers(actor)")


def test_python_overhead_bench(repo, pythonpath, demo_worker):
    r = subprocess.run([PYTHON, str(repo / "bench" / "python_overhead.py"), "--workers", "2",
                        "--runs", "2", "--demo-worker", demo_worker],
                       env=child_env(pythonpath), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert [l.split()[0] for l in lines] == ["op=create", "op=get", "op=fork", "op=delete"]
    for line in lines:
        m = re.fullmatch(r"op=\w+ median_us=(\d+) runs=2", line)
        assert m, line
    assert int(lines[0].split()[1].split("=")[1]) > 0


def test_engine_rpc_overhead_bench(repo, pythonpath):
    r = subprocess.run([PYTHON, str(repo / "bench" / "engine_rpc_overhead.py"), "--calls", "20",
                        "--rounds", "2"],
                       env=child_env(pythonpath), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert re.fullmatch(r"client=berth median_us=[0-9.]+ rounds=2 calls=20", lines[0]), lines
    assert re.fullmatch(r"client=bare median_us=[0-9.]+ rounds=2 calls=20", lines[1]), lines
    assert re.fullmatch(r"client=bare1 median_us=[0-9.]+ rounds=2 calls=20", lines[2]), lines
    assert float(re.fullmatch(r"ratio=([0-9.]+)", lines[3]).group(1)) > 0
    assert float(re.fullmatch(r"ratio_one_write=([0-9.]+)", lines[4]).group(1)) > 0
