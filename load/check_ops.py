"""Checker rules for commutative operations (counters ``$inc``, sets ``$add``/``$remove``)
mixed with plain writes of the same fields.

The rules only rely on what docs/conflicts.md promises for the merge policy, in a form that
does not depend on arrival order:

- a set element goes to its latest-stamped ``$add`` or ``$remove`` (HLC order);
- a counter is reset by a plain write of the field (the latest-stamped one wins, like any
  field under last-writer-wins) and every increment stamped after that write adds to it.
  An increment stamped before the winning plain write may count or not, depending on
  whether the server lets a reset cancel only the increments its writer had seen: the
  check accepts both, so the counter must lie in ``[low, high]`` where ``low`` counts the
  increments that must count and ``high`` adds those the reset's writer could not have
  seen. The tool only sends positive increments, so the range is tight; with no plain
  write after creation it is exact.

Used on records of the collections the ops mix writes (load/chaos/ops.py), all under the
default merge policy and never deleted.
"""

from __future__ import annotations

from typing import Any

from load.merge import apply_set, element_key, operator_of, plain_merge_patch, set_value

History = list[tuple[str, dict[str, Any], dict[str, Any]]]  # (client_id, mutation, result)
Stamps = dict[str, dict[str, str]]  # set field -> element JSON -> HLC of its latest op


def replay(data: Any, deleted: bool, mutation: dict[str, Any], result: dict[str, Any],
           stamps: Stamps) -> tuple[Any, bool]:
    """The record after an acknowledged mutation, as the checker rebuilds it. A ``merged``
    result carries the server's record; an ``applied`` one was applied whole on top of the
    previous version, where a set operation only moves elements whose last stamp is older
    (per-element last-writer-wins) and a plain write of a set field stamps all elements."""
    stamp = mutation.get("hlc", "")
    payload = mutation.get("data")
    if result["status"] == "merged":
        _stamp_ops(payload, stamp, stamps)
        record = result["record"]
        return record.get("data"), bool(record.get("deleted"))
    op = mutation["op"]
    if op == "delete":
        return None, True
    if op == "put":
        for name, value in (payload or {}).items():
            _stamp_plain(name, value, data, stamp, stamps)
        return payload, False
    out = dict(data) if isinstance(data, dict) and not deleted else {}
    for name, value in (payload or {}).items():
        kind = operator_of(value)
        if value is None:
            out.pop(name, None)
        elif kind == "$inc":
            current = out.get(name)
            out[name] = (current if type(current) in (int, float) else 0) + value["$inc"]
        elif kind is not None:
            out[name] = _tracked_set(out.get(name), kind, value[kind], stamp,
                                     stamps.setdefault(name, {}))
        else:
            _stamp_plain(name, value, out, stamp, stamps)
            out[name] = plain_merge_patch(out.get(name), value)
    return out, False


def _stamp_plain(name: str, value: Any, before: Any, stamp: str, stamps: Stamps) -> None:
    if name not in stamps:
        return
    old = before.get(name) if isinstance(before, dict) else None
    for element in (old if isinstance(old, list) else []) + (value if isinstance(value, list)
                                                             else []):
        key = element_key(element)
        stamps[name][key] = max(stamps[name].get(key, ""), stamp)


def _stamp_ops(payload: Any, stamp: str, stamps: Stamps) -> None:
    for name, value in (payload or {}).items() if isinstance(payload, dict) else ():
        kind = operator_of(value)
        if kind in ("$add", "$remove"):
            field = stamps.setdefault(name, {})
            for element in value[kind]:
                key = element_key(element)
                field[key] = max(field.get(key, ""), stamp)


def _tracked_set(current: Any, op: str, elements: list[Any], stamp: str,
                 field: dict[str, str]) -> list[Any]:
    fresh = [e for e in elements if stamp > field.get(element_key(e), "")]
    for element in fresh:
        field[element_key(element)] = stamp
    return apply_set(current, op, fresh)


def ops_fields(mutations: list[dict[str, Any]]) -> dict[str, str]:
    """Fields that some mutation changed by an operation: name -> "counter" | "set"."""
    fields: dict[str, str] = {}
    for mutation in mutations:
        payload = mutation.get("data")
        if mutation.get("op") != "patch" or not isinstance(payload, dict):
            continue
        for name, value in payload.items():
            kind = operator_of(value)
            if kind is not None:
                fields[name] = "counter" if kind == "$inc" else "set"
    return fields


def check_ops(record_name: str, history: History, record: dict[str, Any], add: Any,
              counts: Any) -> None:
    """``history``: every answered, non-rejected (client_id, mutation, result) on the
    record, in any order. ``add(kind, **detail)`` reports an anomaly."""
    mutations = [m for _, m, _ in history]
    fields = ops_fields(mutations)
    if not fields or record.get("deleted"):
        return
    data = record.get("data") or {}
    for name, kind in sorted(fields.items()):
        if kind == "counter":
            _check_counter(record_name, name, history, data, add)
            counts["counters_checked"] += 1
        else:
            _check_set(record_name, name, history, data, add)
            counts["sets_checked"] += 1


def _plain_writes(name: str, history: History) -> list[tuple[str, Any, str, dict[str, Any]]]:
    """(stamp, value or None when removed, client_id, mutation) of each plain write of
    ``name``."""
    writes = []
    for client_id, mutation, _result in history:
        payload = mutation.get("data")
        if mutation.get("op") == "put":
            writes.append((mutation["hlc"], (payload or {}).get(name), client_id, mutation))
        elif mutation.get("op") == "patch" and isinstance(payload, dict) and name in payload \
                and operator_of(payload[name]) is None:
            writes.append((mutation["hlc"], payload[name], client_id, mutation))
    return writes


def _check_counter(record_name: str, name: str, history: History, data: dict[str, Any],
                   add: Any) -> None:
    writes = _plain_writes(name, history)
    reset_stamp, reset_value, reset_client, reset = max(
        writes, key=lambda w: w[0], default=("", 0, "", None))
    low: float = reset_value if type(reset_value) in (int, float) else 0
    high = low
    for client_id, mutation, result in history:
        value = (mutation.get("data") or {}).get(name) if mutation.get("op") == "patch" else None
        if operator_of(value) != "$inc" or not isinstance(value, dict):
            continue
        amount = value["$inc"]
        if mutation["hlc"] > reset_stamp:
            low += amount
            high += amount
        elif reset is not None and client_id != reset_client and _version(result) > reset.get(
                "base_version", 0):
            # the reset's client had not seen this increment (it came after its base)
            high += amount
    actual = data.get(name)
    number: float | None = 0 if actual is None else actual  # a removed field counts 0
    if type(number) not in (int, float) or not low <= number <= high:  # type: ignore[operator]
        add("counter_mismatch", record=record_name, field=name, server=actual,
            expected=low if low == high else [low, high],
            detail="the latest plain write of the field plus every increment stamped after "
                   "it (a range: plus the increments that write's client had not seen)")


def _version(result: dict[str, Any]) -> int:
    """The version a result names (a conflict's record: the version it lost against)."""
    return int(result.get("version") or (result.get("record") or {}).get("version") or 0)


def _check_set(record_name: str, name: str, history: History, data: dict[str, Any],
               add: Any) -> None:
    """Every element whose latest-stamped event is an ``$add``/``$remove`` must be present
    exactly when that event is an ``$add``. A plain write of the field (a put, or a patch
    with a list) is an event on every element; elements it decides are not judged, as
    docs/conflicts.md leaves a plain write against a newer element operation to the
    policy."""
    plain = max((w[0] for w in _plain_writes(name, history)), default="")
    latest: dict[str, tuple[str, str]] = {}  # element -> (stamp, "$add" | "$remove")
    elements: dict[str, Any] = {}
    for _client, mutation, _result in history:
        payload = mutation.get("data")
        value = payload.get(name) if isinstance(payload, dict) else None
        kind = operator_of(value)
        if kind not in ("$add", "$remove") or not isinstance(value, dict):
            continue
        for element in value[kind]:
            key = element_key(element)
            elements[key] = element
            if mutation["hlc"] > latest.get(key, ("", ""))[0]:
                latest[key] = (mutation["hlc"], kind)
    actual = data.get(name)
    present = {element_key(e) for e in actual} if isinstance(actual, list) else set()
    wrong = [
        {"element": elements[key], "latest": kind}
        for key, (stamp, kind) in sorted(latest.items())
        if stamp > plain and (kind == "$add") != (key in present)
    ]
    if wrong:
        add("set_mismatch", record=record_name, field=name, server=actual, elements=wrong[:20],
            detail="an element's presence differs from its latest-stamped $add/$remove")
    if isinstance(actual, list) and actual != set_value({element_key(e): e for e in actual}):
        add("set_mismatch", record=record_name, field=name, server=actual,
            detail="a set is kept sorted and without duplicates")
