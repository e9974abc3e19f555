"""Commutative patch operations: counters and sets. They never conflict.

Inside a `patch`, a field whose value is a one-key object naming an operation is that
operation, not a value: `{"likes": {"$inc": 1}}`, `{"tags": {"$add": ["a"]}}`,
`{"tags": {"$remove": ["b"]}}`.

Sets are last-writer-wins element sets: every element remembers the HLC stamp of its last
add or remove, so concurrent adds and removes of the same element settle the same way in
any arrival order. The field's value is the sorted list of present elements.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

OPERATORS = frozenset({"$inc", "$add", "$remove"})


def operator_of(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in OPERATORS:
            return key
    return None


def check(field: str, op: str, arg: Any) -> str | None:
    """A message when the operation's argument is unusable."""
    if op == "$inc":
        if type(arg) not in (int, float):
            return f"{field}: $inc takes a number"
    elif not isinstance(arg, list):
        return f"{field}: {op} takes a list of elements"
    return None


INT_RANGE = (-(2**63), 2**63 - 1)  # what a 64-bit integer holds: other stores, other clients


class OutOfRange(ValueError):
    """A counter operation whose result JSON cannot carry faithfully."""


def increment(current: Any, amount: float) -> int | float:
    """The counter after `$inc`. Raises OutOfRange for an integer outside 64 bits or a float
    that is no longer finite (JSON has no infinity: it would be stored as null)."""
    base = current if type(current) in (int, float) else 0
    result = base + amount
    if type(result) is int:
        if not INT_RANGE[0] <= result <= INT_RANGE[1]:
            raise OutOfRange(f"$inc would take the counter to {result}, outside the 64-bit "
                             "integer range")
    elif not math.isfinite(result):
        raise OutOfRange(f"$inc would take the counter to {result}, which JSON cannot hold")
    return result


def apply_set_op(current: Any, elements_meta: dict[str, list[Any]] | None, op: str,
                 elements: list[Any], stamp: str) -> tuple[list[Any], dict[str, list[Any]]]:
    """The new value and per-element metadata ({element JSON: [stamp, present]})."""
    meta = dict(elements_meta) if elements_meta is not None else {}
    if elements_meta is None and isinstance(current, list):
        # A plain list becoming a set: its elements count as added at the dawn of time.
        for element in current:
            meta.setdefault(orjson.dumps(element).decode(), ["", 1])
    present = 1 if op == "$add" else 0
    for element in elements:
        key = orjson.dumps(element).decode()
        old = meta.get(key)
        if old is None or stamp > old[0]:
            meta[key] = [stamp, present]
    value = [orjson.loads(key) for key in sorted(meta) if meta[key][1]]
    return value, meta
