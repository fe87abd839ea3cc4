"""Stand-in for AReaL's payload serializer (areal/infra/rpc/serialization.py). Like AReaL's,
plain JSON values stay as they are and other types get an encoding of their own; here only
tuples, as {"__tuple__": [...]}, so that a test can tell whether both ends used it (with plain
JSON a tuple arrives as a list)."""

from __future__ import annotations

from typing import Any

TAG = "__tuple__"


def serialize_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return {TAG: [serialize_value(v) for v in value]}
    if isinstance(value, list):
        return [serialize_value(v) for v in value]
    if isinstance(value, dict):
        return {k: serialize_value(v) for k, v in value.items()}
    return value


def deserialize_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {TAG}:
            return tuple(deserialize_value(v) for v in value[TAG])
        return {k: deserialize_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deserialize_value(v) for v in value]
    return value
