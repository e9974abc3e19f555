"""Apply a mutation to a record's data, the way the server and the browser client do.

Used twice: by simulated clients for their optimistic local state, and by the checker to
rebuild a record's history from the acknowledged results.
"""

from __future__ import annotations

from typing import Any

JSON = Any


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_op(data: JSON, deleted: bool, op: str, payload: JSON) -> tuple[JSON, bool]:
    """The (data, deleted) state after ``op``; a tombstone's data is ``None``."""
    if op == "put":
        return payload, False
    if op == "patch":
        return merge_patch(None if deleted else data, payload), False
    if op == "delete":
        return None, True
    raise ValueError(f"unknown op {op!r}")
