"""Node labels from Python (docs/experiment.md, "Node labels", "Topology"): a spec's
node_selector puts workers only on nodes whose labels match, Ray's syntax; no matching node is a
PlacementError naming the labels; a malformed selector is a WorkerCreationError naming the
field; a Job's topology keeps a gang inside one rack."""

from __future__ import annotations

import pytest

import berth
from berth_test_helpers import spec

CLUSTER = {"nodes": [
    {"name": "a0", "resources": {"CPU": 16, "GPU": 4, "memory": 64 << 30}, "labels": {"rack": "a"}},
    {"name": "b0", "resources": {"CPU": 16, "GPU": 4, "memory": 64 << 30}, "labels": {"rack": "b", "gpu_type": "H200"}},
    {"name": "b1", "resources": {"CPU": 16, "GPU": 4, "memory": 64 << 30}, "labels": {"rack": "b"}},
]}


def job(role, replicas, selector, placement="separate", gpu=1):
    return berth.Job(role=role, replicas=replicas,
                     tasks=[spec(["srv"], gpu=gpu, node_selector=selector,
                                 ray_placement_strategy=placement)])


def test_workers_land_on_matching_nodes():
    p = berth.plan([job("train", 4, {"gpu_type": "H200"}, placement="shared"),
                    job("gen", 2, {"rack": "!b"}, gpu=2),
                    job("tool", 2, {"rack": "b", "gpu_type": "!in(H200)"})], cluster=CLUSTER)
    nodes = {w["id"]: w["node"] for w in p["workers"]}
    assert {nodes[f"train/{i}"] for i in range(4)} == {"b0"}
    assert {nodes["gen/0"], nodes["gen/1"]} == {"a0"}
    assert {nodes["tool/0"], nodes["tool/1"]} == {"b1"}


def test_no_matching_node_is_a_placement_error():
    with pytest.raises(berth.PlacementError) as e:
        berth.plan([job("x", 1, {"gpu_type": "B200"})], cluster=CLUSTER)
    assert "asks for labels {gpu_type: B200}, and no node has them" in str(e.value)


@pytest.mark.parametrize("selector, words", [
    ({"rack": "in(a"}, 'node_selector.rack: "in(a" has no closing parenthesis'),
    ({"rack": 1}, "node_selector must be a dict of label names to strings"),
])
def test_a_bad_selector_names_the_field(selector, words):
    with pytest.raises(berth.WorkerCreationError) as e:
        berth.plan([job("x", 1, selector)], cluster=CLUSTER)
    assert words in str(e.value)


def test_a_topology_keeps_the_gang_in_one_rack():
    cluster = {"nodes": [
        {"name": n, "resources": {"CPU": 16, "GPU": 4, "memory": 64 << 30},
         "labels": {"rack": n[0]}} for n in ("a0", "b0", "b1")]}
    j = berth.Job(role="train", replicas=8, tasks=[spec(["srv"], gpu=1)],
                  topology={"key": "rack", "mode": "require"})
    p = berth.plan([j], cluster=cluster)
    assert {w["node"] for w in p["workers"]} == {"b0", "b1"}
    j.replicas = 12
    with pytest.raises(berth.PlacementError) as e:
        berth.plan([j], cluster=cluster)
    assert "no single rack domain can hold the group (rack: a, b)" in str(e.value)
    j.topology = {"key": "rack", "mode": "sometimes"}
    with pytest.raises(berth.WorkerCreationError) as e:
        berth.plan([j], cluster=cluster)
    assert '"sometimes" is not a topology mode; allowed: prefer, require' in str(e.value)
