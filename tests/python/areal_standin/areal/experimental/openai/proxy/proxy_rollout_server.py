"""Stand-in for AReaL's proxy rollout server (the module RolloutController.start_proxy forks
next to each rollout server): the stand-in RPC server under this module's name."""

import sys

from areal.infra.rpc.rpc_server import main

if __name__ == "__main__":
    sys.exit(main())
