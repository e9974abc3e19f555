"""Applying a push batch: idempotency, version checks, new record states. No HTTP here.

`apply_batch` runs inside one storage write transaction (on the storage's writer thread), so
the stored result of every mutation commits atomically with its effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..guard.roles import TokenRoles
from ..model import incidents
from ..model.errors import ErrorCode, SyncError
from ..model.hlc import MS, NODE, Clock
from ..model.mutations import Mutation, Rejection
from ..model.policies import PolicyTable
from ..model.records import CREATED_META, SEQ, RecordKey, Row, StoredRecord, change_json
from ..storage.base import PushTransaction
from ..storage.failures import StorageError
from ..storage.mutation_log import Entry
from .admission import Admission, Refused, schema_refusal
from .merge import ResolverFailed, State, decide


@dataclass
class BatchResult:
    results: list[bytes]  # one JSON object per mutation, in request order
    heads: dict[str, int]  # space -> seq after the batch, for spaces the batch changed
    changed: dict[str, list[Row]] = field(default_factory=dict)  # for live fan-out
    counts: dict[str, int] = field(default_factory=dict)  # status -> number, for metrics
    # space -> collection -> records created, for the collections declared to notify
    # (--webpush-notify-new; Web Push nudges): nothing is counted when none is declared
    new: dict[str, dict[str, int]] = field(default_factory=dict)


def rejected(mid: int | None, code: ErrorCode, message: str,
             error_id: str | None = None, **extra: str) -> bytes:
    result = {"mid": mid, "status": "rejected", "code": code.value, "message": message,
              **extra}
    if error_id is not None:
        result["error_id"] = error_id
    return orjson.dumps(result)


def client_of_another_user() -> SyncError:
    # No mid, no owner, nothing about what the client id stored: only that it is taken.
    return SyncError(ErrorCode.FORBIDDEN, "this client_id belongs to another user: use a "
                     "client_id of your own", field="client_id")


def bind_client(txn: PushTransaction, client_id: str, sub: str) -> None:
    """A client id belongs to the user whose token first pushed with it (docs/security.md):
    bind it now, or refuse the batch if it is another user's."""
    owner = txn.client_owner(client_id)
    if owner is None:
        txn.bind_client(client_id, sub, int(time.time() * 1000))
    elif owner != sub:
        raise client_of_another_user()


def mark_duplicate(result: bytes) -> bytes:
    return result[:-1] + b',"duplicate":true}'


def owner_after(current: StoredRecord | None, deleted: bool, sub: str | None) -> str | None:
    """A record's owner after a write of `sub`'s: its creator, kept by every write but one
    that brings it to life (a new record, a tombstone re-created), whose writer it is."""
    if current is not None and (deleted or not current.deleted):
        return current.owner
    return sub


class RecordWriter:
    """The one way a record's new state is written, whatever wrote it (a push's new record,
    a push's merged state, a conflict's resolution): the space's next seq, the change
    rendered once as the feed sends it (records.change_json), the row stored through the
    transaction, and noted where the write's answer and its live fan-out read it (`out`)
    and as the record's current row (`rows`: a later mutation of the batch starts from it)."""

    __slots__ = ("changed", "heads", "now_ms", "rows", "txn")

    def __init__(self, txn: PushTransaction, out: BatchResult, now_ms: int) -> None:
        self.txn = txn
        self.heads = out.heads
        self.changed = out.changed
        self.now_ms = now_ms  # every write of the transaction: its updated_at
        self.rows: dict[RecordKey, Row | None] = {}  # None: loaded, no such record

    def write(self, key: RecordKey, version: int, deleted: bool, hlc: str, data: str,
              meta: str, owner: str | None) -> Row:
        space, collection, record_id = key
        seq = self.txn.next_seq(space)
        now = self.now_ms
        flag = 1 if deleted else 0  # an int: records.Row
        row = (space, collection, record_id, version, seq, flag, hlc, now, data, meta,
               change_json(space, collection, record_id, version, seq, flag, hlc, now,
                           data), owner or "")  # "": records.OWNER
        self.rows[key] = row
        self.txn.write_row(key, row)
        self.heads[space] = seq
        changed = self.changed.get(space)
        if changed is None:
            changed = self.changed[space] = []
        changed.append(row)
        return row


class _Batch:
    def __init__(self, txn: PushTransaction, client_id: str, clock: Clock,
                 policies: PolicyTable, max_record_bytes: int, notify: frozenset[str],
                 sub: str | None, roles: TokenRoles | None,
                 admission: Admission | None = None) -> None:
        self.txn = txn
        self.admission = admission  # the collections file's checks (None: no file)
        self.sub = sub  # the pushing token's user: the owner of the records it creates
        self.roles = roles
        self.notify = notify  # the collections whose new records are counted
        self.policies = policies
        self.max_record_bytes = max_record_bytes
        self.client_id = client_id
        self.clock = clock
        self.now_ms = int(time.time() * 1000)
        self.ceiling = clock.ceiling()  # stamps beyond it are clamped
        self.seen: dict[int, Entry] = {}  # stored results, and this batch's, by mid
        self.out = BatchResult([], {})
        self.writer = RecordWriter(txn, self.out, self.now_ms)
        self.rows = self.writer.rows  # current state of the batch's records
        self.applied = 0  # counted apart from out.counts: it is the hot one

    def row(self, key: RecordKey) -> Row | None:
        if key not in self.rows:
            found = self.txn.load_rows([key])
            self.rows[key] = found.get(key)
        return self.rows[key]

    def record(self, key: RecordKey) -> StoredRecord | None:
        row = self.row(key)
        return StoredRecord(*row) if row is not None else None

    def count(self, status: str) -> None:
        self.out.counts[status] = self.out.counts.get(status, 0) + 1

    def created(self, space: str, collection: str) -> None:
        """A record of a collection declared to notify was created (its first version)."""
        counts = self.out.new.get(space)
        if counts is None:
            counts = self.out.new[space] = {}
        counts[collection] = counts.get(collection, 0) + 1


def apply_batch(txn: PushTransaction, client_id: str, items: list[Mutation | Rejection],
                clock: Clock, policies: PolicyTable, max_record_bytes: int,
                may_write: Callable[[str], bool] | None = None,
                owner: str | None = None, notify: frozenset[str] = frozenset(),
                sub: str | None = None, roles: TokenRoles | None = None,
                admission: Admission | None = None) -> BatchResult:
    """`max_record_bytes` bounds a record's data after the mutation (parse_mutation bounds
    the mutation's own data; a patch or a set operation can grow a record past it).

    `may_write(space)` (auth on): a mutation of a space it refuses is rejected `forbidden`
    and its result is NOT stored, so the same mid succeeds once access is granted. It is
    asked once per space of the batch.

    `owner` (auth on, the client id not known to be bound to this user): bind the client id
    to it, or refuse the whole batch if it is another user's, before anything is read.

    `notify`: the collections whose new records are counted in the result's `new`.

    `sub`: the pushing token's user (None: auth off), the owner of the records it creates.
    `roles` (declared collections with role lists, guard/roles.py): a mutation the token's
    roles may not apply is rejected `forbidden` and, as for a space, its result is NOT
    stored; a record the token may not read is left out of its result.

    `admission`: the checks of a declared collections file (core/admission.py); None: no
    file, every collection open and nothing validated.

    The batch's locks come first (storage/base.py, lock order): the client, then the
    spaces of its mutations (a forbidden one writes nothing and is not locked)."""
    forbidden: set[int] = set()  # indexes of the batch's forbidden mutations
    if may_write is not None:
        verdicts: dict[str, bool] = {}
        for i, item in enumerate(items):
            if isinstance(item, Mutation):
                ok = verdicts.get(item.space)
                if ok is None:
                    ok = verdicts[item.space] = may_write(item.space)
                if not ok:
                    forbidden.add(i)
    # A generator: a backend that takes no locks (SQLite) never runs it.
    txn.lock(client_id, (item.space for i, item in enumerate(items)
                         if isinstance(item, Mutation) and i not in forbidden))
    if owner is not None:
        bind_client(txn, client_id, owner)
    batch = _Batch(txn, client_id, clock, policies, max_record_bytes, notify, sub, roles,
                   admission)
    mids = [item.mid for i, item in enumerate(items)
            if item.mid is not None and i not in forbidden]
    if mids:
        batch.seen = {mid: (mid, fingerprint, result) for mid, (fingerprint, result)
                      in txn.stored_results(client_id, mids).items()}
    keys = [(m.space, m.collection, m.id) for i, m in enumerate(items)
            if isinstance(m, Mutation) and m.mid not in batch.seen and i not in forbidden]
    if keys:  # one query per (space, collection), not one per mutation
        found = txn.load_rows(keys)
        batch.rows.update({key: found.get(key) for key in keys})
    purged = txn.purged_mid(client_id)
    seen, results, heads = batch.seen, batch.out.results, batch.out.heads
    entries: list[Entry] = []  # the results to keep
    for i, item in enumerate(items):
        mid = item.mid
        if mid is None:
            results.append(rejected(None, item.code, item.message))  # type: ignore[union-attr]
            batch.count("rejected")
            continue
        if forbidden and i in forbidden:  # answered, never stored: see the docstring
            assert isinstance(item, Mutation)
            results.append(rejected(mid, ErrorCode.FORBIDDEN,
                                    f"this token may not write to space {item.space!r}"))
            batch.count("rejected")
            continue
        previous = seen.get(mid)
        if previous is not None:
            _mid, fingerprint, stored = previous
            if fingerprint == item.fingerprint:
                results.append(mark_duplicate(stored))
                batch.count("duplicate")
            else:
                results.append(rejected(
                    mid, ErrorCode.MUTATION_ID_REUSED,
                    f"mid {mid} of client {client_id} was used before for a different "
                    "mutation; every mutation needs a new mid"))
                batch.count("rejected")
            continue
        if mid <= purged:
            results.append(rejected(
                mid, ErrorCode.MUTATION_EXPIRED,
                f"mid {mid} of client {client_id} is behind the compaction horizon: it was "
                "received before and its result has been purged"))
            batch.count("rejected")
            continue
        if isinstance(item, Rejection):
            result = rejected(mid, item.code, item.message, item.error_id)
            batch.count("rejected")
        elif roles is not None and _denied(batch, roles, item):
            continue  # answered, never stored: see the docstring
        else:
            head = heads.get(item.space)  # every record write moves its space's head
            try:
                result = _apply_mutation(batch, item)
            except Exception as exc:
                result = _failed(batch, item, exc, head)
        entry = (mid, item.fingerprint, result)
        entries.append(entry)
        seen[mid] = entry  # the same mid later in this batch: a replay
        results.append(result)
    if entries:
        txn.write_results(client_id, entries, batch.now_ms)
    if batch.applied:
        batch.out.counts["applied"] = batch.applied
    return batch.out


def _denied(batch: _Batch, roles: TokenRoles, m: Mutation) -> bool:
    """Whether the token's roles refuse `m` (its answer is then given, not stored)."""
    denial = roles.denied(m, batch.row((m.space, m.collection, m.id)))
    if denial is None:
        return False
    batch.out.results.append(orjson.dumps({
        "mid": m.mid, "status": "rejected", "code": ErrorCode.FORBIDDEN.value,
        "message": f"{denial.message}: the write was not stored, and is applied if pushed "
                   "again with a token that has the role",
        "collection": denial.collection,
        "operation": denial.operation, "roles": list(denial.allowed)}))
    batch.count("rejected")
    return True


def _failed(batch: _Batch, m: Mutation, exc: Exception, head: int | None) -> bytes:
    """An unexpected failure of _apply_mutation made this mutation's rejection
    (`internal_error`, logged under an id: incidents.py) instead of its batch's 500.

    Deciding and encoding (data and meta) come before any write of the mutation, seq
    allocation included, so a failure there leaves nothing of it in the transaction. Two
    kinds of failure still fail the batch: storage errors (every backend raises its
    driver's as StorageError, storage/failures.py: they are the storage's to answer, and
    the transaction may be unusable), and a failure after the mutation
    wrote its record (its space's head moved past `head`), which no rejection could take
    back. On the hot path this costs one dict lookup (the try itself is free in 3.11).
    """
    if isinstance(exc, StorageError) or batch.out.heads.get(m.space) != head:
        raise exc
    error_id = incidents.report("applying a mutation", exc, client_id=batch.client_id,
                                mid=m.mid, space=m.space, collection=m.collection, id=m.id,
                                op=m.op)
    batch.count("rejected")
    return rejected(m.mid, ErrorCode.INTERNAL_ERROR, incidents.message(error_id), error_id)


def _apply_mutation(batch: _Batch, m: Mutation) -> bytes:
    if m.hlc[NODE] != batch.client_id:  # the node is the writer (recordmeta.py): no one else's
        batch.count("rejected")
        return rejected(m.mid, ErrorCode.INVALID_HLC,
                        f"the hlc node {m.hlc[NODE]!r} must be the pushing client_id "
                        f"{batch.client_id!r}: stamp writes '<ms>:<counter>:<client_id>'")
    key = (m.space, m.collection, m.id)
    if batch.admission is not None:  # a collections file (without one: this test only)
        admission = batch.admission  # inline, no call: a lookup and a comparison, a schema
        if m.app_version < admission.floors.get(m.collection, admission.undeclared_floor):
            admitted = admission.admit(m)
            if isinstance(admitted, Refused):
                return _refused(batch, m, admitted)
            m = admitted  # its data upgraded, for an older app
        if m.op == "put" and m.base_version == 0 and batch.rows.get(key, 0) is None:
            # A new record: what will be stored is the put's data (the fast path below asks
            # no schema; a put it does not take is decided, and validated then).
            schema = admission.schemas.get(m.collection)
            if schema is not None and not schema.valid(m.data):
                return _refused(batch, m, schema_refusal(m.id, m.collection, schema, m.data))
    if m.op == "put" and m.base_version == 0 and m.hlc[MS] <= batch.ceiling \
            and batch.rows.get(key, 0) is None:  # loaded, and no such record
        # The hot path of a first sync: a put creating a record (nothing to load or merge),
        # its stamp within the drift bound. The same outcome as decide() for it, without
        # the objects.
        batch.clock.saw(m.hlc)
        row = batch.writer.write(key, 1, False, m.hlc, m.data_json.decode(), CREATED_META,
                                 batch.sub)
        if batch.notify and m.collection in batch.notify:  # none declared: one test
            batch.created(m.space, m.collection)
        batch.applied += 1
        return b'{"mid":%d,"status":"applied","version":1,"seq":%d}' % (m.mid, row[SEQ])
    current = batch.record(key)
    state = State.of(current) if current is not None else None  # None: decide's new record
    stamp, clamped = batch.clock.receive(m.hlc, batch.ceiling)
    try:
        decision = decide(batch.policies, state, m, stamp, batch.client_id)
    except ResolverFailed as exc:
        batch.count("rejected")
        return rejected(m.mid, ErrorCode.RESOLVER_FAILED, str(exc))
    if decision.status == "rejected":
        batch.count("rejected")
        return rejected(m.mid, ErrorCode(decision.code), decision.message, **decision.extra)
    record = current
    if decision.state is not None:
        if batch.admission is not None and not decision.state.deleted:  # as it would be
            refused = batch.admission.invalid(m, decision.state.data)  # stored: merged...
            if refused is not None:
                return _refused(batch, m, refused)
        data_json = _data_json(m, decision.state)
        meta_json = orjson.dumps(decision.state.meta)
        too_large = oversized(m.id, f"this {m.op}", data_json, meta_json,
                              batch.max_record_bytes)
        if too_large is not None:
            batch.count("rejected")
            return rejected(m.mid, ErrorCode.RECORD_TOO_LARGE, too_large)
        new = decision.state
        record = StoredRecord(*batch.writer.write(
            key, new.version, new.deleted, new.hlc, data_json.decode(), meta_json.decode(),
            owner_after(current, new.deleted, batch.sub)))
        if current is None and not new.deleted and m.collection in batch.notify:
            batch.created(m.space, m.collection)  # a new record off the fast path
    if decision.status == "applied" and not clamped:  # the common answer, formatted directly
        assert record is not None
        batch.applied += 1
        return b'{"mid":%d,"status":"applied","version":%d,"seq":%d}' % (
            m.mid, record.version, record.seq)
    result: dict[str, Any] = {"mid": m.mid}
    if clamped:
        result["hlc_clamped"] = stamp
    if decision.status == "applied":
        assert record is not None
        result.update(status="applied", version=record.version, seq=record.seq)
        batch.applied += 1
        return orjson.dumps(result)
    policy = batch.policies.policy(m.collection).value
    resolution: dict[str, Any] = {"policy": policy, "winner": decision.winner}
    if decision.fields:
        resolution["fields"] = decision.fields
    if decision.base_unknown:
        resolution["base_unknown"] = True
    if decision.status == "merged":
        assert record is not None
        result.update(status="merged", version=record.version, seq=record.seq,
                      record=record.wire(), resolution=resolution)
    elif decision.status == "open":
        result.update(status="conflict", code=ErrorCode.CONFLICT_OPEN.value,
                      message=f"collection {m.collection} resolves conflicts manually: the "
                              "server record stays until the conflict is resolved",
                      record=record.wire() if record else None, resolution=resolution)
    else:
        version = current.version if current is not None else 0
        result.update(status="conflict", code=ErrorCode.STALE_BASE_VERSION.value,
                      message=f"record {m.id} is at version {version}, the mutation was "
                              f"based on version {m.base_version}; the server's record won",
                      record=record.wire() if record else None, resolution=resolution)
    if batch.roles is not None and record is not None and not batch.roles.may_read(
            m.space, m.collection, record.owner):
        del result["record"]  # the token may not read it: its roles (guard/roles.py)
    batch.count(decision.status if decision.status != "open" else "conflict")
    if decision.conflicted:
        outcome = {**resolution, "status": result["status"],
                   "version": record.version if record else 0}
        conflict_id = batch.txn.write_conflict(
            m, batch.client_id, policy, "open" if decision.status == "open" else "resolved",
            orjson.dumps(current.wire() if current else None).decode(),
            orjson.dumps(outcome).decode(), batch.now_ms)
        if decision.status == "open":
            result["conflict_id"] = conflict_id
    return orjson.dumps(result)


def oversized(record_id: str, change: str, data_json: bytes, meta_json: bytes,
              limit: int) -> str | None:
    """Why a record's new state is past SYNCSERVER_MAX_RECORD_BYTES (None: it is not). Every
    write of a record obeys it: a push, a conflict resolution."""
    size = len(data_json) + len(meta_json)  # the metadata is stored, read and parsed too
    if size <= limit:
        return None
    return (f"record {record_id} would be {size} bytes after {change} ({len(data_json)} of "
            f"data, {len(meta_json)} of conflict metadata); the limit is {limit} "
            "(SYNCSERVER_MAX_RECORD_BYTES, data and metadata together): remove data from "
            "the record first")


def _refused(batch: _Batch, m: Mutation, refused: Refused) -> bytes:
    batch.count("rejected")
    return rejected(m.mid, refused.code, refused.message, **refused.extra)


def _data_json(m: Mutation, state: State) -> bytes:
    if m.op == "put" and state.data is m.data:
        return m.data_json  # already serialized once by parse_mutation
    return orjson.dumps(state.data)
