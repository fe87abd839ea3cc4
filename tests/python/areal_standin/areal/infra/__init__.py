"""Stand-in package: only what berth's tests need of AReaL (see rpc_server.py)."""
