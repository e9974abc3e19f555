"""Apply a mutation to a record's data, the way the server and the browser client do.

Used twice: by simulated clients for their optimistic local state, and by the checker to
rebuild a record's history from the acknowledged results.
"""

from __future__ import annotations

from typing import Any

JSON = Any


def increment_of(value: JSON) -> int | float | None:
    """The amount of a ``{"$inc": n}`` commutative operation, else None."""
    if isinstance(value, dict) and len(value) == 1 and "$inc" in value:
        amount = value["$inc"]
        if type(amount) in (int, float):
            return amount  # type: ignore[no-any-return]
    return None


def as_number(value: JSON) -> int | float:
    """A counter's current value: a missing or non-numeric field counts as 0."""
    return value if type(value) in (int, float) else 0  # type: ignore[no-any-return]


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7396 JSON merge patch, plus the protocol's ``$inc`` counter operation (a missing
    or non-numeric field counts as 0). The tool never sends ``$add``/``$remove``."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        amount = increment_of(value)
        if value is None:
            result.pop(key, None)
        elif amount is not None:
            result[key] = as_number(result.get(key)) + amount
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
