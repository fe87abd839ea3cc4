#!/usr/bin/python3
"""A stand-in for a torch training script: what torch.distributed's env://
initialisation reads (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
MASTER_ADDR, MASTER_PORT), checked as torch would, then every rank of the
world meeting at MASTER_ADDR:MASTER_PORT: at the agent's store under torchrun
(TORCHELASTIC_USE_AGENT_STORE=True), else rank 0 hosts it, as
init_process_group does. Then it "trains" until SIGTERM (with --steps N it
exits 0 after N seconds instead). See standin.py."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import standin  # noqa: E402

TOOL = "train"


def need(name):
    value = os.environ.get(name)
    if value is None:
        standin.die(TOOL, f"environment variable {name} expected, but not set "
                    "(torch.distributed's env:// init needs it)")
    return value


def main():
    standin.stop_on_term()
    rank = int(need("RANK"))
    world = int(need("WORLD_SIZE"))
    local = int(need("LOCAL_RANK"))
    local_world = int(need("LOCAL_WORLD_SIZE"))
    addr = need("MASTER_ADDR")
    port = int(need("MASTER_PORT"))
    if not (0 <= rank < world and 0 <= local < local_world <= world):
        standin.die(TOOL, f"RANK {rank} WORLD_SIZE {world} LOCAL_RANK {local} LOCAL_WORLD_SIZE "
                    f"{local_world} do not fit together")
    devices = standin.visible_devices()
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    if devices:
        # Under torchrun a rank sees its node's devices and takes
        # cuda:LOCAL_RANK; started by berth per rank it sees its own only.
        if agent and local >= len(devices):
            standin.die(TOOL, f"cuda:{local} (LOCAL_RANK) does not exist: CUDA_VISIBLE_DEVICES "
                        f"shows {len(devices)} device(s)")
    host = None
    if not agent and rank == 0:
        host = standin.Host(TOOL, port)
        host.expect("ranks", world)
    standin.join(TOOL, addr, port, "ranks", rank, world)
    standin.say(TOOL, f"rank {rank}/{world} (local {local}/{local_world}) joined {addr}:{port}")
    keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
            "GROUP_WORLD_SIZE", "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
            "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_USE_AGENT_STORE")
    standin.report(TOOL, f"{os.environ.get('BERTH_ROLE', 'role')}.rank{rank}",
                   {"env": {k: os.environ.get(k) for k in keys}})
    if len(sys.argv) > 2 and sys.argv[1] == "--steps":
        time.sleep(float(sys.argv[2]))
        return
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
