"""Checker rules for commutative operations (counters ``$inc``, sets ``$add``/``$remove``)
mixed with plain writes of the same fields, under the semantics of docs/conflicts.md
(protocol 2; the merge policy):

- A field's last plain write (a put, or a patch with a plain value) is its *epoch*: plain
  writes settle among themselves by HLC stamp, so the epoch is the latest-stamped plain
  write of the field, whatever the arrival order.
- An operation counts only if its writer had seen the epoch: its ``base_version`` is at or
  above the version the epoch was written at, or the epoch is an earlier write of its own
  client. Others are absorbed by the epoch (and audited).
- A counter is the epoch's value plus every increment that counts.
- A set is an add-wins observed-remove set: an element is present when some add of it
  that counts (the epoch's own list counts as adds at the epoch's version) was not seen
  by any remove of it that counts; a remove has seen an add that was written at or below
  its base, or earlier by its own client.

Each rule is stated without arrival order, so it holds only if the server settles the
same in every order. Used on records of the collections the ops mix writes
(load/chaos/edits.py): all under the default merge policy, and never deleted.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from load.merge import apply_op, element_key, operator_of, set_value


class Write(NamedTuple):
    """An answered mutation of a record."""

    client_id: str
    mutation: dict[str, Any]
    result: dict[str, Any]


History = list[Write]


class RecordState(NamedTuple):
    """A record as the checker rebuilds it, version by version."""

    data: Any
    deleted: bool


def replay(before: RecordState, mutation: dict[str, Any], result: dict[str, Any]
           ) -> RecordState:
    """The record after an acknowledged mutation, as the checker rebuilds it. A ``merged``
    result carries the server's record. An ``applied`` one was taken whole on top of the
    previous version with nothing concurrent (protocol 2: every change since its base was
    its own client's), so its operations apply as they are: its writer had seen every
    epoch and every add (load/merge.py)."""
    if result["status"] == "merged":
        record = result["record"]
        return RecordState(record.get("data"), bool(record.get("deleted")))
    data, deleted = apply_op(before.data, before.deleted, mutation["op"], mutation.get("data"))
    return RecordState(data, deleted)


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
    mutations = [write.mutation for write in history]
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


def _version(result: dict[str, Any]) -> int | None:
    """The version a result created (None for a conflict: it created none)."""
    if result.get("status") == "applied":
        return int(result["version"])
    if result.get("status") == "merged":
        return int(result["record"]["version"])
    return None


class Epoch(NamedTuple):
    """A field's epoch: its latest-stamped plain write, and the value it wrote."""

    write: Write
    value: Any


class Mark(NamedTuple):
    """An add of a set element (`version`: the one it made) or a remove (`version`: its
    base)."""

    client_id: str
    mid: int
    version: int


def _epoch(name: str, history: History) -> Epoch | None:
    best: Epoch | None = None
    for write in history:
        mutation = write.mutation
        payload = mutation.get("data")
        if mutation.get("op") == "put":
            value = (payload or {}).get(name)
        elif isinstance(payload, dict) and name in payload and operator_of(payload[name]) is None:
            value = payload[name]
        else:
            continue
        if best is None or mutation["hlc"] > best.write.mutation["hlc"]:
            best = Epoch(write, value)
    return best


def _saw(write: Write, epoch: Write, epoch_version: int) -> bool:
    if write.client_id == epoch.client_id:
        return bool(write.mutation["mid"] > epoch.mutation["mid"])
    return bool(write.mutation.get("base_version", 0) >= epoch_version)


def _ops(name: str, history: History, kinds: tuple[str, ...]) -> list[tuple[Write, str, Any]]:
    """(write, operator, argument) of the operations on ``name``."""
    out = []
    for write in history:
        payload = write.mutation.get("data")
        value = payload.get(name) if write.mutation.get("op") == "patch" and isinstance(
            payload, dict) else None
        kind = operator_of(value)
        if kind in kinds and isinstance(value, dict):
            out.append((write, kind, value[kind]))
    return out


def _check_counter(record_name: str, name: str, history: History, data: dict[str, Any],
                   add: Any) -> None:
    found = _epoch(name, history)
    if found is None:
        return
    epoch, value = found
    version = _version(epoch.result)
    if version is None:
        add("counter_mismatch", record=record_name, field=name, epoch=[epoch.mutation],
            detail="the latest-stamped plain write of the field took no effect")
        return
    expected: float = value if type(value) in (int, float) else 0
    for write, _op, amount in _ops(name, history, ("$inc",)):
        if _saw(write, epoch, version):
            expected += amount
    actual = data.get(name)
    number = 0 if actual is None else actual  # a removed field counts as 0
    if type(number) not in (int, float) or number != expected:
        add("counter_mismatch", record=record_name, field=name, server=actual,
            expected=expected,
            detail="the epoch's value plus every increment whose writer had seen it")


def _check_set(record_name: str, name: str, history: History, data: dict[str, Any],
               add: Any) -> None:
    found = _epoch(name, history)
    if found is None:
        return
    epoch, value = found
    version = _version(epoch.result)
    if version is None:
        return
    adds: dict[str, list[Mark]] = {}  # element -> its adds
    removes: dict[str, list[Mark]] = {}  # element -> its removes
    elements: dict[str, Any] = {}
    for element in value if isinstance(value, list) else []:
        key = element_key(element)
        elements[key] = element
        adds.setdefault(key, []).append(Mark(epoch.client_id, epoch.mutation["mid"], version))
    for write, kind, argument in _ops(name, history, ("$add", "$remove")):
        made = _version(write.result)
        if not _saw(write, epoch, version) or made is None:
            continue  # absorbed by the epoch (a conflict that saw it: see the counter rule)
        for element in argument:
            key = element_key(element)
            elements[key] = element
            mid = write.mutation["mid"]
            if kind == "$add":
                adds.setdefault(key, []).append(Mark(write.client_id, mid, made))
            else:
                removes.setdefault(key, []).append(
                    Mark(write.client_id, mid, write.mutation.get("base_version", 0)))

    def seen(a: Mark, r: Mark) -> bool:
        return a.version <= r.version or (a.client_id == r.client_id and a.mid < r.mid)

    expected = {k for k, found_adds in adds.items()
                if any(not any(seen(a, r) for r in removes.get(k, [])) for a in found_adds)}
    actual = data.get(name)
    present = {element_key(e) for e in actual} if isinstance(actual, list) else set()
    if present != expected:
        add("set_mismatch", record=record_name, field=name, server=actual,
            expected=set_value({k: elements[k] for k in expected}),
            detail="an element is present when an add of it that saw the epoch was not "
                   "seen by any remove of it")
    elif isinstance(actual, list) and actual != set_value({element_key(e): e for e in actual}):
        add("set_mismatch", record=record_name, field=name, server=actual,
            detail="a set is kept sorted and without duplicates")
