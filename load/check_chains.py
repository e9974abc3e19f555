"""Checker rules for conflicts: nothing settled silently, no older write over a newer one.

Guarantees 6 and 11 (docs/guarantees.md), as the checker sees them from the recorded history:

- ``conflict_not_audited``: a mutation whose write was overridden (a ``conflict`` whose
  record differs from what it wrote, or a ``merged`` result listing fields in its
  ``resolution``) has no entry in the conflicts audit (``GET /v1/conflicts``).
- ``older_write_won``: a version of a record replaced a field last written by another
  client with a newer HLC stamp, by the value of an older-stamped write, and nothing
  was audited (the chain bug: a queued offline edit answered ``applied`` over a newer
  edit from another device).

Fields changed by commutative operations follow their own rules (load/check_ops.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from load.check_ops import RecordState
from load.merge import operator_of, plain_merge_patch
from load.recorder import MutationKey


@dataclass
class Step:
    """One version of a record: the acknowledged mutation that made it, and the state
    before and after it (as rebuilt by the checker)."""

    mkey: MutationKey
    mutation: dict[str, Any]
    result: dict[str, Any]
    before: RecordState
    after: RecordState


class LastWrite(NamedTuple):
    """Who wrote a field last, with which stamp."""

    client_id: str
    stamp: str


def written_values(mutation: dict[str, Any], before: Any) -> dict[str, Any]:
    """The plain top-level values a mutation means to leave (``None``: removed), on top of
    ``before``; ``_deleted`` stands for the deleted flag. Operations are left out."""
    op, payload = mutation.get("op"), mutation.get("data")
    if op == "delete":
        return {"_deleted": True}
    values: dict[str, Any] = {"_deleted": False}
    if op == "put":
        old = before if isinstance(before, dict) else {}
        for name in old.keys() | (payload or {}).keys():
            values[name] = (payload or {}).get(name)
    elif isinstance(payload, dict):
        old = before if isinstance(before, dict) else {}
        for name, value in payload.items():
            if operator_of(value) is None:
                values[name] = plain_merge_patch(old.get(name), value) if value is not None \
                    else None
    return values


def _field(state: RecordState, name: str) -> Any:
    data, deleted = state
    if name == "_deleted":
        return deleted
    return data.get(name) if isinstance(data, dict) and not deleted else None


def check_overrides(record: str, steps: list[Step], audited: set[MutationKey] | None,
                    skip: set[str], add: Any) -> None:
    """Walk a record's versions; remember each field's last writer (client, stamp)."""
    writer: dict[str, LastWrite] = {}
    for step in steps:
        client, stamp = step.mkey.client_id, step.mutation.get("hlc", "")
        values = written_values(step.mutation, step.before.data)
        for name, value in values.items():
            if name in skip:
                continue
            after = _field(step.after, name)
            if after != value:
                continue  # this write did not set the field
            last = writer.get(name)
            replaced = _field(step.before, name) != after
            if replaced and last is not None and last.client_id != client and \
                    last.stamp > stamp and (audited is None or step.mkey not in audited):
                add("older_write_won", record=record, field=name, version=step.result.get(
                    "version") or step.result["record"]["version"],
                    mutation=list(step.mkey), stamp=stamp, newer_writer=last.client_id,
                    newer_stamp=last.stamp, status=step.result["status"])
            if step.result["status"] == "applied" or replaced:
                writer[name] = LastWrite(client, stamp)


def needs_audit(mutation: dict[str, Any], result: dict[str, Any]) -> bool:
    """Was something overridden in settling this mutation?"""
    status = result.get("status")
    if status == "merged":
        return bool((result.get("resolution") or {}).get("fields"))
    if status != "conflict":
        return False
    record = result.get("record")
    if record is None:
        return True
    state = RecordState(record.get("data"), bool(record.get("deleted")))
    values = written_values(mutation, state.data)
    return any(_field(state, name) != value for name, value in values.items())


def check_audit(outcomes: dict[MutationKey, tuple[dict[str, Any], dict[str, Any]]],
                audited: set[MutationKey], add: Any, counts: Any) -> None:
    """``outcomes``: (mutation, canonical result) of every answered innocent mutation."""
    for mkey, (mutation, result) in sorted(outcomes.items()):
        if not needs_audit(mutation, result):
            continue
        counts["overrides_checked"] += 1
        if mkey not in audited:
            add("conflict_not_audited", client_id=mkey.client_id, mid=mkey.mid,
                record="/".join((mutation["space"], mutation["collection"], mutation["id"])),
                status=result.get("status"), resolution=result.get("resolution"),
                detail="an overridden write is missing from GET /v1/conflicts")
