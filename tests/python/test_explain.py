"""A placement that does not fit: the engine's explanation reaches Python as data
(`exc.explain`), besides the text (`str(exc)`, `exc.explanation`), with AReaL's classes."""

from __future__ import annotations

import json

import pytest

import berth
from berth.errors import from_core
from berth_test_helpers import spec


def job(role, cmd, replicas=1, **spec_kw):
    return berth.Job(role=role, replicas=replicas, tasks=[spec(cmd, **spec_kw)],
                     readiness="none", startup_timeout=10.0)


def check_node_entries(explain, verdict):
    assert explain["nodes"], explain
    for n in explain["nodes"]:
        assert set(n) >= {"node", "verdict"}
        if n["verdict"] in ("full_now", "never_fits"):
            assert set(n) >= {"bundle", "resource", "need", "have"}
    assert any(n["verdict"] == verdict for n in explain["nodes"]), explain


def test_infeasible_create_workers_explains_as_data(sched, demo_worker):
    with pytest.raises(berth.PlacementError) as e:
        sched.create_workers(job("huge", [demo_worker], gpu=8))
    err = e.value
    assert isinstance(err, berth.WorkerCreationError) and err.code == "infeasible"
    x = err.explain
    assert isinstance(x, dict), err
    assert x["group"] == "huge"
    assert x["reason_code"] == "bundle_too_large"
    assert x["hint"] == "lower it, or add a node with GPU 8 or more"
    assert x["reason"].endswith("; " + x["hint"])
    assert (x["bundle"], x["resource"], x["need"], x["have"]) == (0, "GPU", 8, 4)
    assert (x["fits_now"], x["full_now"], x["never_fits"]) == (0, 0, 1)
    check_node_entries(x, "never_fits")
    n = x["nodes"][0]
    assert (n["resource"], n["need"], n["have"]) == ("GPU", 8, 4)
    # The text, rendered once in C++, says the same.
    assert x["reason"] in str(err) and "never_fits" in str(err)
    assert err.explanation and x["reason"] in err.explanation


def test_unavailable_create_workers_explains_busy_nodes(sched, demo_worker):
    sched.create_workers(job("hog", [demo_worker], gpu=4))
    with pytest.raises(berth.PlacementError) as e:
        sched.create_workers(job("late", [demo_worker], gpu=1))
    x = e.value.explain
    assert e.value.code == "unavailable" and isinstance(x, dict), e.value
    assert x["group"] == "late" and x["reason_code"] == "nodes_busy"
    assert (x["resource"], x["need"], x["have"]) == ("GPU", 1, 0)
    check_node_entries(x, "full_now")
    sched.delete_workers("hog")


def test_plan_error_explains_as_data(demo_worker):
    with pytest.raises(berth.PlacementError) as e:
        berth.plan([job("huge", [demo_worker], gpu=16)], gpus=8)
    x = e.value.explain
    assert isinstance(x, dict), e.value
    assert (x["group"], x["reason_code"]) == ("huge", "bundle_too_large")
    assert (x["resource"], x["need"], x["have"]) == ("GPU", 16, 8)
    check_node_entries(x, "never_fits")


def test_other_errors_carry_no_explain(sched, demo_worker):
    with pytest.raises(berth.WorkerNotFoundError) as e:
        sched.get_workers("nobody")
    assert e.value.explain is None and e.value.explanation


def test_from_core_keeps_the_explain_object():
    explain = {"group": "g", "reason_code": "cluster_too_small", "reason": "r; h", "hint": "h",
               "bundle": -1, "resource": "GPU", "need": 9, "have": 8, "fits_now": 0,
               "full_now": 0, "never_fits": 0, "nodes": []}
    raw = Exception(json.dumps({"code": "infeasible", "message": "text", "explain": explain}))
    err = from_core(raw, "create_workers", "g")
    assert type(err) is berth.PlacementError
    assert err.explain == explain and err.explanation == "text"
    # Not an object: left out rather than passed on.
    raw = Exception(json.dumps({"code": "infeasible", "message": "text", "explain": "x"}))
    assert from_core(raw, "create_workers", "g").explain is None
