"""Apply a mutation to a record's data, the way the server and the browser client do.

Used twice: by simulated clients for their optimistic local state, and by the checker to
rebuild a record's history from the acknowledged results.
"""

from __future__ import annotations

from typing import Any

import orjson

JSON = Any
OPERATORS = ("$inc", "$add", "$remove")


def operator_of(value: JSON) -> str | None:
    """``$inc``, ``$add`` or ``$remove`` when ``value`` is a commutative operation."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if isinstance(key, str) and key in OPERATORS:
            return key
    return None


def increment_of(value: JSON) -> int | float | None:
    """The amount of a ``{"$inc": n}`` commutative operation, else None."""
    if operator_of(value) == "$inc":
        amount = value["$inc"]
        if type(amount) in (int, float):
            return amount  # type: ignore[no-any-return]
    return None


def as_number(value: JSON) -> int | float:
    """A counter's current value: a missing or non-numeric field counts as 0."""
    return value if type(value) in (int, float) else 0


def element_key(element: JSON) -> str:
    """A set element's identity and sort key: its JSON text, as the server keeps it."""
    return orjson.dumps(element).decode()


def set_value(elements: dict[str, JSON]) -> list[JSON]:
    """A set field's value: its present elements, sorted by their JSON text."""
    return [elements[k] for k in sorted(elements)]


def apply_set(current: JSON, op: str, elements: list[JSON]) -> list[JSON]:
    """``$add``/``$remove`` applied naively (no per-element stamps): right when nothing
    newer than this operation touched these elements, as for a client's own local copy."""
    present = {element_key(e): e for e in current} if isinstance(current, list) else {}
    for element in elements:
        if op == "$add":
            present[element_key(element)] = element
        else:
            present.pop(element_key(element), None)
    return set_value(present)


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7396 JSON merge patch, plus the protocol's commutative operations at the top
    level of a patch: ``$inc`` (a missing or non-numeric field counts as 0), ``$add`` and
    ``$remove`` (a set kept as a sorted list)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        op = operator_of(value)
        if value is None:
            result.pop(key, None)
        elif op == "$inc":
            result[key] = as_number(result.get(key)) + value["$inc"]
        elif op is not None:
            result[key] = apply_set(result.get(key), op, value[op])
        else:
            result[key] = plain_merge_patch(result.get(key), value)
    return result


def plain_merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7396 alone: operations are only recognised at the top level of a patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = plain_merge_patch(result.get(key), value)
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
