"""The conflict audit: listing resolutions, and resolving the open conflicts of `manual`
collections. A resolution is an ordinary new version of the record, visible on the feed."""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..guard.permissions import Access
from ..guard.roles import Roles, operation_of
from ..model.errors import ErrorCode, SyncError
from ..model.hlc import Clock
from ..model.mutations import DEFAULT_MAX_DEPTH, Mutation, parse_mutation
from ..model.records import StoredRecord
from ..storage.base import PushTransaction
from .admission import Admission
from .commutative import Unappliable
from .merge import State, apply_whole
from .push import BatchResult, RecordWriter, oversized, owner_after

ACCEPT = ("server", "client")


def parse_resolution(body: object) -> dict[str, Any]:
    """{"accept": "server"|"client"} | {"data": {...}} | {"delete": true}"""
    if isinstance(body, dict):
        if body.get("accept") in ACCEPT and len(body) == 1:
            return body
        if isinstance(body.get("data"), dict) and len(body) == 1:
            return body
        if body.get("delete") is True and len(body) == 1:
            return body
    raise SyncError(ErrorCode.INVALID_REQUEST,
                    'send one of {"accept": "server"}, {"accept": "client"}, '
                    '{"data": {...}} or {"delete": true}')


def resolve(txn: PushTransaction, conflict_id: int, resolution: dict[str, Any],
            clock: Clock, max_record_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH,
            access: Access | None = None, admission: Admission | None = None,
            roles: Roles | None = None) -> tuple[dict[str, Any], BatchResult]:
    """`access` (auth on): a conflict of a space the token cannot read is not found (its id
    tells nothing); resolving needs write access to its space. The record written obeys
    `max_record_bytes` as a push's does (413 record_too_large: the conflict stays open),
    and its collection's schema (`admission`: the collections file; 422 schema_invalid).
    `roles` (declared role lists): a conflict of a record the token may not read is not
    found either, and the resolution needs the role of the write it makes (accepting the
    server's side: an update); the resolver owns a record the resolution brings to life.

    The conflict's entry is read first (a backend with concurrent writers locks it then):
    the space to lock is in it."""
    row = txn.load_conflict(conflict_id)
    if row is None or (access is not None and not access.can_read(row["space"])):
        raise SyncError(ErrorCode.CONFLICT_NOT_FOUND, f"no conflict {conflict_id}")
    if access is not None:
        access.require_write(row["space"])
    txn.lock(None, (row["space"],))  # before the record is read (storage/base.py)
    if row["status"] != "open":
        raise SyncError(ErrorCode.CONFLICT_CLOSED, f"conflict {conflict_id} is already resolved")
    out = BatchResult([], {})
    now = int(time.time() * 1000)
    current = txn.load_record(row["space"], row["collection"], row["record_id"])
    record = current
    client = orjson.loads(row["client"])
    if resolution.get("accept") == "server":
        op, data = "patch", None  # writes nothing, decides the record: as an update
    elif resolution.get("accept") == "client":
        op, data = client["op"], client["data"]
    elif "data" in resolution:
        op, data = "put", resolution["data"]
    else:
        op, data = "delete", None
    if roles is not None and access is not None:
        _check_roles(roles, access, row, current, op, conflict_id)
    if resolution.get("accept") != "server":
        stamp = str(clock.now())
        version = current.version if current else 0
        raw = {"mid": 1, "space": row["space"], "collection": row["collection"],
               "id": row["record_id"], "op": op, "base_version": version, "hlc": stamp}
        if data is not None:
            raw["data"] = data
        m = parse_mutation(raw, 1 << 30, max_depth)
        if not isinstance(m, Mutation):
            raise SyncError(ErrorCode.INVALID_REQUEST, m.message)
        state = State.of(current)
        try:
            record = _write_resolution(txn, m, state, now, stamp, out, max_record_bytes,
                                       admission, current,
                                       access.sub if access is not None else None)
        except Unappliable as exc:  # the operation cannot apply to the record as it is now
            raise SyncError(ErrorCode.INVALID_REQUEST, f"{exc}: resolve with data instead"
                            ) from None
    outcome = {**orjson.loads(row["outcome"]), "resolution": resolution,
               "resolved_version": record.version if record else 0}
    txn.close_conflict(conflict_id, orjson.dumps(outcome).decode(), now)
    return {"id": conflict_id, "status": "resolved",
            "record": record.wire() if record else None}, out


def _check_roles(roles: Roles, access: Access, row: dict[str, Any],
                 current: StoredRecord | None, op: str, conflict_id: int) -> None:
    space, collection = row["space"], row["collection"]
    readable = roles.readable(access, space)
    if readable is not None and not readable.admits(collection,
                                                    current.owner if current else None):
        raise SyncError(ErrorCode.CONFLICT_NOT_FOUND, f"no conflict {conflict_id}")
    live = current is not None and not current.deleted
    denial = roles.denied(access, space, collection, operation_of(op, live),
                          current.owner if current else None)
    if denial is not None:
        raise SyncError(ErrorCode.FORBIDDEN, f"{denial.message}: the conflict stays open",
                        space=space, collection=collection, operation=denial.operation)


def _write_resolution(txn: PushTransaction, m: Mutation, state: State, now: int, stamp: str,
                      out: BatchResult, max_record_bytes: int,
                      admission: Admission | None, current: StoredRecord | None,
                      sub: str | None) -> StoredRecord:
    new = apply_whole(state, m, stamp)
    if admission is not None and not new.deleted:  # as a push's record: tombstones are not
        refused = admission.invalid(m, new.data)
        if refused is not None:
            raise SyncError(refused.code, refused.message + "; the conflict stays open",
                            **refused.extra)
    data_json, meta_json = orjson.dumps(new.data), orjson.dumps(new.meta)
    too_large = oversized(m.id, "this resolution", data_json, meta_json, max_record_bytes)
    if too_large is not None:
        raise SyncError(ErrorCode.RECORD_TOO_LARGE, too_large)
    row = RecordWriter(txn, out, now).write((m.space, m.collection, m.id), new.version,
                                            new.deleted, new.hlc, data_json.decode(),
                                            meta_json.decode(),
                                            owner_after(current, new.deleted, sub))
    return StoredRecord(*row)


def wire(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row as the API shows it (stored JSON embedded without re-parsing)."""
    return {
        "id": row["id"], "space": row["space"], "collection": row["collection"],
        "record_id": row["record_id"], "client_id": row["client_id"], "mid": row["mid"],
        "policy": row["policy"], "status": row["status"], "base_version": row["base_version"],
        "server": orjson.Fragment(row["server"]), "client": orjson.Fragment(row["client"]),
        "outcome": orjson.Fragment(row["outcome"]), "created_at": row["created_at"],
        "resolved_at": row["resolved_at"],
    }
