"""Stand-in package (see areal/infra/rpc/rpc_server.py)."""
