"""Run as a program by test_engine_rpc.py with the stand-in `areal` importable: a controller
whose payloads go through AReaL's serializer (the stand-in's). Prints one JSON line."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile

import berth

with tempfile.TemporaryDirectory() as tmp, \
        berth.Scheduler(gpus=0, cpu=2, mem=2, log_dir=tmp, grace=1.0) as s:
    s.create_workers(berth.Job(role="w", replicas=1, tasks=[berth.SchedulingSpec(cpu=1, mem=1)]))
    asyncio.run(s.create_engine("w/0", "standin_engine.EchoEngine", None, (1, 2)))
    out = {
        "serializer": berth.engine_rpc.serializer(),
        "typeof": s.call_engine("w/0", "typeof", None, (1, 2)),
        "pair_is_tuple": isinstance(s.call_engine("w/0", "pair", None, 1, 2), tuple),
        "init_arg": s.call_engine("w/0", "typeof", None, s.call_engine("w/0", "init_args")
                                  ["args"][0]),
    }
print(json.dumps(out))
sys.exit(0)
