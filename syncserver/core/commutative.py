"""Commutative patch operations: counters and sets. They never conflict.

Inside a `patch`, a field whose value is a one-key object naming an operation is that
operation, not a value: `{"likes": {"$inc": 1}}`, `{"tags": {"$add": ["a"]}}`,
`{"tags": {"$remove": ["b"]}}`.

Sets are add-wins observed-remove sets (apply_set_op): a remove takes out only the adds its
writer had seen, so concurrent adds and removes settle the same way in any arrival order,
with no tombstones. The field's value is the sorted list of present elements.

How operations meet plain writes of the same field is merge.py's business (the field's last
plain write is its epoch; operations whose writers had not seen it are absorbed).

An operation applies to a value of its own kind or to no value (a missing field, or null:
RFC 7396 writes null to mean "no value"): `$inc` to a number, `$add`/`$remove` to an array.
Onto anything else it is refused (TypeMismatch), never a silent replacement: a field is a
counter or a set, and a plain write is how it becomes something else.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from ..model.hlc import node_of
from ..model.recordmeta import retag, tag_changed_by_others

OPERATORS = frozenset({"$inc", "$add", "$remove"})


def operator_of(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if isinstance(key, str) and key in OPERATORS:
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


INT_RANGE = range(-(2**63), 2**63)  # what a 64-bit integer holds: other stores, other clients


class Unappliable(ValueError):
    """An operation the record cannot take: its mutation is rejected with `code`, the
    record stays as it was."""

    code = "invalid_mutation"

    def __init__(self, message: str, **extra: str) -> None:
        super().__init__(message)
        self.extra = extra  # more of the rejection, beside its message


class OutOfRange(Unappliable):
    """A counter operation whose result JSON cannot carry faithfully."""


class TypeMismatch(Unappliable):
    """An operation onto a value of another kind (`$inc` onto a string)."""

    code = "operation_type_mismatch"

    def __init__(self, field: str, op: str, found: str) -> None:
        wants = "a number" if op == "$inc" else "an array"
        super().__init__(f"{field}: {op} applies to {wants} or to no value, found {found}; "
                         "write the field a plain value first to change its kind",
                         field=field, found=found)


def json_type(value: Any) -> str:
    """The JSON name of a stored value's type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"


def increment(field: str, current: Any, amount: float) -> int | float:
    """The counter after `$inc`. Raises TypeMismatch when the field holds something else
    than a number or no value, OutOfRange for an integer outside 64 bits or a float that is
    no longer finite (JSON has no infinity: it would be stored as null)."""
    if current is None:
        base: int | float = 0
    elif type(current) in (int, float):
        base = current
    else:
        raise TypeMismatch(field, "$inc", json_type(current))
    result = base + amount
    if type(result) is int:
        if result not in INT_RANGE:
            raise OutOfRange(f"$inc would take the counter to {result}, outside the 64-bit "
                             "integer range")
    elif not math.isfinite(result):
        raise OutOfRange(f"$inc would take the counter to {result}, which JSON cannot hold")
    return result


def set_elements(field: str, op: str, current: Any) -> dict[str, Any]:
    """The elements of a set field's value by their JSON text (no value is the empty set;
    TypeMismatch for a value that is not a list)."""
    if current is None:
        return {}
    if not isinstance(current, list):
        raise TypeMismatch(field, op, json_type(current))
    return {orjson.dumps(element).decode(): element for element in current}


def apply_set_op(field: str, current: Any, tags: dict[str, list[Any]] | None, op: str,
                 elements: list[Any], version: int, stamp: str, base: int,
                 epoch: list[Any] | None) -> tuple[list[Any], dict[str, list[Any]]]:
    """The new value and element tags of the set `field` after `$add` or `$remove` of
    `elements`, written at `version` with `stamp` by a client whose base is `base`.

    An add-wins observed-remove set: an add tags the element with its version and stamp
    ([version, stamp, highest version an add by anyone else had], recordmeta.retag); a
    remove takes out only the adds its writer had seen (at or below its base, or its own),
    so an add it had not seen survives, in either arrival order. An element present without
    a tag came with the field's last plain write (`epoch`). Removing an element that is not
    there changes nothing and leaves nothing behind: no tombstones.
    """
    present = set_elements(field, op, current)
    tags = dict(tags) if tags else {}
    implicit = [epoch[0], epoch[1], 0] if epoch is not None else [0, "", 0]
    writer = node_of(stamp)
    for element in elements:
        key = orjson.dumps(element).decode()
        if op == "$add":
            tags[key] = retag(tags.get(key, implicit if key in present else None), version,
                              stamp)
            present[key] = element
        elif key in present:
            if not tag_changed_by_others(tags.get(key, implicit), base, writer):
                del present[key]
                tags.pop(key, None)
    return [present[key] for key in sorted(present)], tags
