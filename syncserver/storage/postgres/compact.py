"""Compaction on PostgreSQL (Storage.compact): what SQLiteStorage.compact does, in
transactions that take their locks in the global order (postgres/transaction.py), so that
compacting beside running instances never deadlocks with their pushes for good (a
deadlock is retried) nor loses one of their writes.

1. Mutation results and resolved conflicts older than the cutoff: the clients' rows only.
2. Tombstones: the spaces that hold old ones are locked (sorted) first, then the
   tombstones are deleted and each space's horizon moves past the highest seq deleted.
3. Conflict metadata older than the horizon (recordmeta.compact), 500 records per
   transaction; a record written since it was read keeps its metadata until next time
   (the UPDATE matches its seq), so a push's write is never overwritten.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar

from ...model import recordmeta
from ...model.records import CREATED_META, RecordKey
from ..base import CompactStats
from .transaction import PostgresTransaction

T = TypeVar("T")
Write = Callable[[Callable[[PostgresTransaction], T]], Awaitable[T]]

PAGE = 500


class Purged(NamedTuple):
    """The tombstones of a space that compaction deleted."""

    top: int  # the highest seq among them: the space's horizon moves to it
    deleted: int  # how many


async def compact(write: Write[Any], older_than_ms: int) -> CompactStats:
    cutoff = int(time.time() * 1000) - older_than_ms
    stats = CompactStats()

    def results(txn: PostgresTransaction) -> tuple[int, int]:
        c = txn.conn
        c.execute(
            "INSERT INTO clients (client_id, purged_mid) "
            "SELECT client_id, max(last_mid) FROM mutation_batches WHERE created_at < %s "
            "GROUP BY client_id ORDER BY client_id ON CONFLICT (client_id) DO UPDATE SET "
            "purged_mid = greatest(clients.purged_mid, excluded.purged_mid)", (cutoff,))
        row = c.execute("WITH d AS (DELETE FROM mutation_batches WHERE created_at < %s "
                        "RETURNING count) SELECT coalesce(sum(count), 0) FROM d",
                        (cutoff,)).fetchone()
        conflicts = c.execute("DELETE FROM conflicts WHERE status = 'resolved' "
                              "AND created_at < %s", (cutoff,)).rowcount
        return int(row[0]) if row else 0, conflicts

    stats.mutations, stats.conflicts = await write(results)

    def tombstones(txn: PostgresTransaction) -> dict[str, Purged]:
        c = txn.conn
        spaces = [s for (s,) in c.execute(
            "SELECT DISTINCT space FROM records WHERE deleted AND updated_at < %s", (cutoff,))]
        if not spaces:
            return {}
        txn.lock(None, spaces)
        purged = {s: Purged(int(top), int(n)) for s, top, n in c.execute(
            "WITH d AS (DELETE FROM records WHERE deleted AND updated_at < %s "
            "AND space = ANY(%s) RETURNING space, seq) "
            "SELECT space, max(seq), count(*) FROM d GROUP BY space", (cutoff, spaces))}
        if purged:
            names = sorted(purged)
            c.execute("UPDATE spaces SET horizon = greatest(horizon, h.top) "
                      "FROM unnest(%s::text[], %s::int8[]) AS h(space, top) "
                      "WHERE spaces.space = h.space", (names, [purged[s].top for s in names]))
        return purged

    for space, (top, count) in (await write(tombstones)).items():
        stats.horizons[space] = top
        stats.tombstones += count

    after: RecordKey | None = ("", "", "")
    while after is not None:
        after, trimmed = await write(functools.partial(_trim_metadata, after=after,
                                                       cutoff=cutoff))
        stats.metadata += trimmed
    return stats


def _trim_metadata(txn: PostgresTransaction, after: RecordKey, cutoff: int
                   ) -> tuple[RecordKey | None, int]:
    """One page: (the last key read, or None at the end; how many records were trimmed)."""
    c = txn.conn
    rows = c.execute("SELECT space, collection, id, seq, data, meta FROM records "
                     "WHERE (space, collection, id) > (%s, %s, %s) AND meta IS NOT NULL "
                     "AND meta <> %s ORDER BY space, collection, id LIMIT %s",
                     (*after, CREATED_META, PAGE)).fetchall()
    trims = []  # (space, collection, id, seq, trimmed meta)
    for space, collection, record_id, seq, data, meta in rows:
        smaller = recordmeta.compact(meta, data, cutoff)
        if smaller is not None:
            trims.append((space, collection, record_id, seq, smaller))
    trimmed = 0
    if trims:
        columns = [list(column) for column in zip(*trims, strict=True)]
        trimmed = c.execute(
            "UPDATE records SET meta = t.meta FROM unnest(%s::text[], %s::text[], %s::text[], "
            "%s::int8[], %s::text[]) AS t(space, collection, id, seq, meta) "
            "WHERE records.space = t.space AND records.collection = t.collection "
            "AND records.id = t.id AND records.seq = t.seq", columns).rowcount
    if len(rows) < PAGE:
        return None, trimmed
    space, collection, record_id, _seq, _data, _meta = rows[-1]
    return (space, collection, record_id), trimmed
