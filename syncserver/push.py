"""Applying a push batch: idempotency, version checks, new record states. No HTTP here.

`apply_batch` runs inside one storage write transaction (on the storage's writer thread), so
the stored result of every mutation commits atomically with its effect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import ErrorCode
from .hlc import Clock
from .mutations import Mutation, Rejection, merge_patch
from .records import StoredRecord
from .storage.base import PushTransaction

RecordKey = tuple[str, str, str]


@dataclass
class BatchResult:
    results: list[bytes]  # one JSON object per mutation, in request order
    heads: dict[str, int]  # space -> seq after the batch, for spaces the batch changed
    changed: dict[str, list[StoredRecord]] = field(default_factory=dict)  # for live fan-out
    counts: dict[str, int] = field(default_factory=dict)  # status -> number, for metrics


def rejected(mid: int | None, code: ErrorCode, message: str) -> bytes:
    return orjson.dumps({"mid": mid, "status": "rejected", "code": code.value,
                         "message": message})


def mark_duplicate(result: bytes) -> bytes:
    return result[:-1] + b',"duplicate":true}'


class _Batch:
    def __init__(self, txn: PushTransaction, client_id: str, clock: Clock) -> None:
        self.txn = txn
        self.client_id = client_id
        self.clock = clock
        self.now_ms = int(time.time() * 1000)
        self.records: dict[RecordKey, StoredRecord | None] = {}
        self.seen: dict[int, tuple[bytes, bytes]] = {}
        self.out = BatchResult([], {})

    def record(self, m: Mutation) -> StoredRecord | None:
        key = (m.space, m.collection, m.id)
        if key not in self.records:
            self.records[key] = self.txn.load_record(*key)
        return self.records[key]

    def store(self, mid: int, fingerprint: bytes, space: str, result: bytes) -> None:
        self.txn.write_result(self.client_id, mid, fingerprint, space, result, self.now_ms)
        self.seen[mid] = (fingerprint, result)

    def count(self, status: str) -> None:
        self.out.counts[status] = self.out.counts.get(status, 0) + 1


def apply_batch(txn: PushTransaction, client_id: str, items: list[Mutation | Rejection],
                clock: Clock) -> BatchResult:
    batch = _Batch(txn, client_id, clock)
    mids = [item.mid for item in items if item.mid is not None]
    batch.seen = txn.stored_results(client_id, mids) if mids else {}
    purged: int | None = None
    for item in items:
        if item.mid is None:
            batch.out.results.append(rejected(None, item.code, item.message))  # type: ignore[union-attr]
            batch.count("rejected")
            continue
        previous = batch.seen.get(item.mid)
        if previous is not None:
            if previous[0] == item.fingerprint:
                batch.out.results.append(mark_duplicate(previous[1]))
                batch.count("duplicate")
            else:
                batch.out.results.append(rejected(
                    item.mid, ErrorCode.MUTATION_ID_REUSED,
                    f"mid {item.mid} of client {client_id} was used before for a different "
                    "mutation; every mutation needs a new mid"))
                batch.count("rejected")
            continue
        if purged is None:
            purged = txn.purged_mid(client_id)
        if item.mid <= purged:
            batch.out.results.append(rejected(
                item.mid, ErrorCode.MUTATION_EXPIRED,
                f"mid {item.mid} of client {client_id} is behind the compaction horizon: it was "
                "received before and its result has been purged"))
            batch.count("rejected")
            continue
        if isinstance(item, Rejection):
            result = rejected(item.mid, item.code, item.message)
            batch.store(item.mid, item.fingerprint, "", result)
            batch.out.results.append(result)
            batch.count("rejected")
            continue
        result = _apply_mutation(batch, item)
        batch.store(item.mid, item.fingerprint, item.space, result)
        batch.out.results.append(result)
    return batch.out


def _apply_mutation(batch: _Batch, m: Mutation) -> bytes:
    current = batch.record(m)
    current_version = current.version if current is not None else 0
    if m.base_version != current_version:
        batch.count("conflict")
        return orjson.dumps({
            "mid": m.mid, "status": "conflict", "code": ErrorCode.STALE_BASE_VERSION.value,
            "message": f"record {m.id} is at version {current_version}, the mutation was "
                       f"based on version {m.base_version}",
            "record": current.wire() if current is not None else None,
        })
    stamp, _clamped = batch.clock.receive(m.hlc)
    data = _new_data(current, m)
    seq = batch.txn.next_seq(m.space)
    record = StoredRecord(m.space, m.collection, m.id, current_version + 1, seq,
                          data is None, str(stamp), batch.now_ms, data)
    batch.records[(m.space, m.collection, m.id)] = record
    batch.txn.write_record(record)
    batch.out.heads[m.space] = seq
    batch.out.changed.setdefault(m.space, []).append(record)
    batch.count("applied")
    return orjson.dumps({"mid": m.mid, "status": "applied", "version": record.version,
                         "seq": seq})


def _new_data(current: StoredRecord | None, m: Mutation) -> str | None:
    if m.op == "delete":
        return None
    if m.op == "put":
        return m.data_json.decode()
    base: Any = current.parsed_data() if current is not None else {}
    return orjson.dumps(merge_patch(base, m.data)).decode()
