"""Run as a program by test_engine_rpc.py: `areal_serializer_client.py STANDIN_DIR`, a
controller that puts the stand-in `areal` on its sys.path (not on PYTHONPATH): its payloads go
through AReaL's serializer (the stand-in's), and its workers find the stand-in through the
PYTHONPATH berth gives them, as AReaL's (cwd and the controller's sys.path). Prints one JSON
line."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile

sys.path.insert(0, sys.argv[1])

import berth  # noqa: E402

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
