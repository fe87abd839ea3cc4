#!/usr/bin/python3
"""Writes a deterministic cluster and ops file for timing `berth place`.

Usage: bench/gen_place_input.py OUT_DIR [--nodes 1000] [--ops 100000] [--seed 1]

The ops mix RL-shaped groups (1-GPU ranks, fractional helpers, 8-GPU
STRICT_PACK instances, 2-node STRICT_SPREAD instances, 16-rank PACK training
groups) with removals that keep the cluster around 70% full, a few node
removals and additions, and a little unplaceable demand, so that pending and
rescheduling paths are exercised too.
"""
import argparse
import json
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--ops", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out_dir, exist_ok=True)
    node = {"CPU": 64, "GPU": 8, "memory": 1099511627776}
    nodes = [{"name": f"n{i}", "resources": dict(node), "labels": {"rack": f"r{i // 32}"}}
             for i in range(a.nodes)]
    shapes = [
        ("PACK", [{"CPU": 4, "GPU": 1}]),
        ("PACK", [{"CPU": 1, "GPU": 0.25}]),
        ("STRICT_PACK", [{"CPU": 8, "GPU": 2}] * 4),
        ("STRICT_SPREAD", [{"CPU": 32, "GPU": 8}] * 2),
        ("PACK", [{"CPU": 2, "GPU": 1}] * 16),
        ("SPREAD", [{"CPU": 1}] * 4),
    ]
    weights = [40, 20, 15, 5, 10, 10]
    capacity = a.nodes * 8
    ops, live, used, next_id, next_node = [], [], 0, 0, a.nodes
    alive = [n["name"] for n in nodes]
    while len(ops) < a.ops:
        r = rng.random()
        if r < 0.001 and len(alive) > a.nodes // 2:
            victim = alive.pop(rng.randrange(len(alive)))
            ops.append({"op": "remove_node", "node": victim})
        elif r < 0.002:
            name = f"n{next_node}"
            next_node += 1
            alive.append(name)
            ops.append({"op": "add_node", "node": {"name": name, "resources": dict(node)}})
        elif used > 0.7 * capacity or (live and rng.random() < 0.45):
            g, gpus = live.pop(rng.randrange(len(live)))
            used -= gpus
            ops.append({"op": "remove", "group": g})
        else:
            strategy, bundles = rng.choices(shapes, weights)[0]
            if rng.random() < 0.002:  # a request no node can ever hold
                strategy, bundles = "STRICT_PACK", [{"GPU": 16}]
            name = f"g{next_id}"
            next_id += 1
            gpus = sum(b.get("GPU", 0) for b in bundles)
            live.append((name, gpus))
            used += gpus
            ops.append({"op": "create", "group": name, "strategy": strategy, "bundles": bundles})
    with open(os.path.join(a.out_dir, "cluster.json"), "w") as f:
        json.dump({"nodes": nodes}, f)
    with open(os.path.join(a.out_dir, "ops.json"), "w") as f:
        json.dump({"ops": ops}, f)


if __name__ == "__main__":
    main()
