"""The write transaction of the PostgreSQL storage: what push.apply_batch, conflicts.resolve
and epoch.py see of it (storage/base.PushTransaction).

Several server instances write one database at once, so what SQLite gets from its single
writer is taken here with row locks, held to commit (docs/deployment.md):

- `lock(client_id, spaces)` locks the client's row, then each space's row in sorted order
  (the global lock order: two transactions never wait on each other in a cycle). The
  space's row holds its feed head; `next_seq` counts on from the value read under the
  lock, so the transactions writing one space commit one after the other, in seq order:
  a reader of the feed never sees seq n+1 committed while n is still to come (with a plain
  sequence it could, and a cursor past n+1 would skip n for good).
- The client's row lock makes a batch replayed on two instances at once apply once: the
  second reads the first's stored results after it commits (the mutation log's unique
  (client_id, last_mid) index backs this up).
- The meta table (epochs, cursor secret) is read and written under a transaction-scoped
  advisory lock, so get-then-set is atomic across instances.

Record writes and batch results are buffered and written in a few statements at the end
(`flush`), with one pg_notify per changed space for the other instances (delivered at
commit, never before). The methods raise psycopg's errors as the storage family
(storage/failures.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import psycopg

from ...model.mutations import Mutation
from ...model.records import RecordKey, Row, StoredRecord
from .. import mutation_log
from ..write_buffer import RECORD_COLUMNS, WriteBuffer, conflict_client
from .failures import storage_errors

CHANNEL = "syncserver_changes"
META_LOCK = 0x73796E636D657461  # pg_advisory_xact_lock key of the meta table ("syncmeta")

# One statement for the whole batch of records, its rows sent as one JSON array of arrays
# (orjson: ~0.6 ms of the server's CPU per 500 records, against ~5.7 for executemany and
# ~9.4 for unnest() over arrays, whose Python-side adaptation is per element; measured in
# docs/benchmarks.md). Records' data and change are JSON text: they travel as strings.
UPSERT_RECORDS = (
    f"INSERT INTO records ({RECORD_COLUMNS}, change_size) SELECT r->>0, r->>1, r->>2, "
    "(r->>3)::int8, (r->>4)::int8, (r->>5)::bool, r->>6, (r->>7)::int8, r->>8, r->>9, "
    "r->>10, nullif(r->>11, ''), octet_length(r->>10) FROM jsonb_array_elements(%s::jsonb) "
    "AS r "
    "ON CONFLICT (space, collection, id) DO UPDATE SET version = excluded.version, "
    "seq = excluded.seq, deleted = excluded.deleted, hlc = excluded.hlc, "
    "updated_at = excluded.updated_at, data = excluded.data, meta = excluded.meta, "
    "change = excluded.change, change_size = excluded.change_size, owner = excluded.owner"
)
# Many records by key: one primary-key probe per id (a LATERAL subquery that OFFSET 0 keeps
# from being flattened into a join), whatever the table's statistics say. A new table is
# planned as if empty until autovacuum first analyzes it (up to a minute), and a plan that
# scans the space then cost 87 ms per 500-key batch at 20,000 records. The keys travel as
# one JSON parameter, for the reason above: [[space, collection, [id, ...]], ...], all the
# batch's spaces in one statement (one per space cost a batch over 50 spaces 50 round trips).
LOAD_ROWS = (
    "SELECT r.* FROM jsonb_array_elements(%s::jsonb) AS g(k) "
    "CROSS JOIN LATERAL jsonb_array_elements_text(g.k->2) AS i(id) CROSS JOIN LATERAL "
    f"(SELECT {RECORD_COLUMNS} FROM records WHERE space = g.k->>0 AND collection = g.k->>1 "
    "AND id = i.id OFFSET 0) AS r"
)


class PostgresTransaction(WriteBuffer):
    """PushTransaction over one pooled connection, inside BEGIN ... COMMIT (postgres.py)."""

    def __init__(self, conn: psycopg.Connection[Any], instance: str) -> None:
        super().__init__()
        self.conn = conn
        self.instance = instance
        self.locked_client: str | None = None
        self.purged: int | None = None  # the locked client's purged_mid
        self.start: dict[str, int] = {}  # head of each locked space as read under its lock
        self.meta_locked = False

    def _one(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        return self.conn.execute(query, params).fetchone()

    # -- locks, in the global order --------------------------------------------------

    @storage_errors
    def lock(self, client_id: str | None, spaces: Iterable[str]) -> None:
        take_client = client_id is not None and self.locked_client is None
        wanted = sorted(set(spaces) - self.start.keys())
        if not take_client and not wanted:
            return
        # One pipeline, one network round trip: PostgreSQL still runs the statements one
        # after the other, in this order. A space's row is made on its first write:
        # created here (in sorted order, so two batches creating the same spaces wait on
        # each other in that order too), then locked. Keys are in the "C" collation
        # (models.py): the database's ORDER BY is Python's sort.
        c = self.conn
        with c.cursor() as client, c.cursor() as heads:
            with c.pipeline():
                if take_client:
                    client.execute("INSERT INTO clients (client_id, purged_mid) VALUES (%s, 0) "
                                   "ON CONFLICT (client_id) DO NOTHING", (client_id,))
                    client.execute("SELECT purged_mid FROM clients WHERE client_id = %s "
                                   "FOR UPDATE", (client_id,))
                if wanted:
                    heads.execute("INSERT INTO spaces (space, seq, horizon) SELECT s, 0, 0 "
                                  "FROM unnest(%s::text[]) AS s ORDER BY s "
                                  "ON CONFLICT (space) DO NOTHING", (wanted,))
                    heads.execute("SELECT space, seq FROM spaces WHERE space = ANY(%s) "
                                  "ORDER BY space FOR UPDATE", (wanted,))
            if take_client:
                row = client.fetchone()
                self.locked_client, self.purged = client_id, int(row[0]) if row else 0
            for space, seq in heads.fetchall() if wanted else ():
                self.start[space] = int(seq)

    # -- reads -----------------------------------------------------------------------

    @storage_errors
    def stored_results(self, client_id: str,
                       mids: list[int]) -> dict[int, mutation_log.StoredResult]:
        wanted = set(mids)
        found: dict[int, mutation_log.StoredResult] = {}
        for low, high in mutation_log.block_ranges(wanted):
            for (blob,) in self.conn.execute(
                    "SELECT entries FROM mutation_batches "
                    "WHERE client_id = %s AND last_mid BETWEEN %s AND %s",
                    (client_id, low, high)):
                for mid, fingerprint, result in mutation_log.find(bytes(blob), wanted):
                    found[mid] = (fingerprint, result)
        return found

    @storage_errors
    def purged_mid(self, client_id: str) -> int:
        if client_id == self.locked_client and self.purged is not None:
            return self.purged
        row = self._one("SELECT purged_mid FROM clients WHERE client_id = %s", (client_id,))
        return int(row[0]) if row else 0

    @storage_errors
    def client_owner(self, client_id: str) -> str | None:
        row = self._one("SELECT sub FROM client_owners WHERE client_id = %s", (client_id,))
        return str(row[0]) if row else None

    @storage_errors
    def bind_client(self, client_id: str, sub: str, bound_at: int) -> None:
        self.conn.execute("INSERT INTO client_owners (client_id, sub, bound_at) "
                          "VALUES (%s, %s, %s)", (client_id, sub, bound_at))

    @storage_errors
    def load_rows(self, keys: list[RecordKey]) -> dict[RecordKey, Row]:
        groups: dict[tuple[str, str], list[str]] = {}
        for space, collection, record_id in keys:
            groups.setdefault((space, collection), []).append(record_id)
        if not groups:
            return {}
        keys_json = orjson.dumps([(space, collection, ids)
                                  for (space, collection), ids in groups.items()]).decode()
        return {(row[0], row[1], row[2]): row
                for row in self.conn.execute(LOAD_ROWS, (keys_json,))}

    @storage_errors
    def load_record(self, space: str, collection: str, record_id: str) -> StoredRecord | None:
        row = self._one(f"SELECT {RECORD_COLUMNS} FROM records WHERE space = %s "
                        "AND collection = %s AND id = %s", (space, collection, record_id))
        return StoredRecord(*row) if row is not None else None

    # -- writes ----------------------------------------------------------------------

    def next_seq(self, space: str) -> int:
        head = self.heads.get(space)
        if head is None:
            if space not in self.start:  # not locked up front (a caller's omission): lock
                self.lock(None, (space,))  # now; a deadlock this risks is retried
            head = self.start[space]
        self.heads[space] = head + 1
        return head + 1

    @storage_errors
    def write_conflict(self, m: Mutation, client_id: str, policy: str, status: str,
                       server: str, outcome: str, created_at: int) -> int:
        client = conflict_client(m)
        row = self._one(
            "INSERT INTO conflicts (space, collection, record_id, client_id, mid, policy, "
            "status, base_version, server, client, outcome, created_at, resolved_at) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (m.space, m.collection, m.id, client_id, m.mid, policy, status, m.base_version,
             server, client, outcome, created_at, created_at if status == "resolved" else None))
        assert row is not None
        return int(row[0])

    @storage_errors
    def load_conflict(self, conflict_id: int) -> dict[str, Any] | None:
        # Locked: two instances resolving one conflict take turns, the second sees it closed.
        cursor = self.conn.execute("SELECT * FROM conflicts WHERE id = %s FOR UPDATE",
                                   (conflict_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([d.name for d in cursor.description or ()], row, strict=True))

    @storage_errors
    def close_conflict(self, conflict_id: int, outcome: str, resolved_at: int) -> None:
        self.conn.execute("UPDATE conflicts SET status = 'resolved', outcome = %s, "
                          "resolved_at = %s WHERE id = %s", (outcome, resolved_at, conflict_id))

    def _lock_meta(self) -> None:
        if not self.meta_locked:
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (META_LOCK,))
            self.meta_locked = True

    @storage_errors
    def get_meta(self, key: str) -> str | None:
        self._lock_meta()
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return None if row is None else str(row[0])

    @storage_errors
    def set_meta(self, key: str, value: str) -> None:
        self._lock_meta()
        self.conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                          "DO UPDATE SET value = excluded.value", (key, value))

    @storage_errors
    def add_meta(self, key: str, value: str) -> str:
        # No advisory lock needed: of instances adding at once, one insert wins and every
        # one reads the winner's value (the others' inserts wait for it, then do nothing).
        self.conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) "
                          "ON CONFLICT (key) DO NOTHING", (key, value))
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        assert row is not None
        return str(row[0])

    @storage_errors
    def flush(self) -> None:
        c = self.conn
        with c.pipeline():  # the writes below in one network round trip
            self._write_all()

    def _write_all(self) -> None:
        c = self.conn
        if self.rows:
            records = list(self.rows.values())  # plain tuples: orjson writes them as arrays
            c.execute(UPSERT_RECORDS, (orjson.dumps(records).decode(),))
        for client_id, entries in self.results.items():
            rows = mutation_log.batch_rows(client_id, entries, self.results_at)
            with c.cursor() as cur:
                cur.executemany(
                    "INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, "
                    "created_at, entries) VALUES (%s,%s,%s,%s,%s,%s)", rows)
        if self.heads:
            spaces = sorted(self.heads)
            c.execute("UPDATE spaces SET seq = h.seq FROM unnest(%s::text[], %s::int8[]) "
                      "AS h(space, seq) WHERE spaces.space = h.space",
                      (spaces, [self.heads[s] for s in spaces]))
            # Sent by PostgreSQL at commit, in commit order, to every instance's LISTEN.
            c.execute("SELECT pg_notify(%s, n) FROM unnest(%s::text[]) AS n",
                      (CHANNEL, [orjson.dumps({"i": self.instance, "s": s, "p": self.start[s],
                                               "h": self.heads[s]}).decode()
                                 for s in spaces]))
