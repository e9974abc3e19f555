"""The write transaction of the SQLite storage: what push.apply_batch and conflicts.resolve
see of it (storage/base.PushTransaction). Record writes and batch results are buffered and
written with executemany at the end (`flush`), inside the writer's savepoint. Its methods
raise SQLite's errors as the storage family (storage/failures.py)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from typing import Any

from ...model.mutations import Mutation
from ...model.records import COLLECTION, ID, SPACE, RecordKey, Row, StoredRecord
from .. import mutation_log
from ..failures import TransactionLost
from ..write_buffer import RECORD_COLUMNS, WriteBuffer, conflict_client
from .failures import storage_errors


class SQLiteTransaction(WriteBuffer):
    """PushTransaction over the writer connection; writes are buffered for executemany."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def _check_open(self) -> None:
        """SQLite rolls back the whole transaction on some errors (a full disk, an I/O
        error). A write that carried on past one would commit on its own, outside the group:
        refuse it, so that the group fails as a whole (storage/sqlite/backend.py _write_group)."""
        if not self.conn.in_transaction:
            raise TransactionLost("the write transaction was rolled back by the database")

    def lock(self, client_id: str | None, spaces: Iterable[str]) -> None:
        """Nothing to take: the writer thread runs one transaction at a time (BEGIN
        IMMEDIATE holds the database's write lock), which serializes them all."""

    @storage_errors
    def stored_results(self, client_id: str,
                       mids: list[int]) -> dict[int, mutation_log.StoredResult]:
        # Only the rows of the blocks the batch's mids fall in (mutation_log.py): an index
        # range of (client_id, last_mid) per run of adjacent blocks, one for an ordinary batch.
        wanted = set(mids)
        found: dict[int, mutation_log.StoredResult] = {}
        for low, high in mutation_log.block_ranges(wanted):
            rows = self.conn.execute(
                "SELECT entries FROM mutation_batches "
                "WHERE client_id = ? AND last_mid BETWEEN ? AND ?", (client_id, low, high))
            for (blob,) in rows:
                for mid, fingerprint, result in mutation_log.find(blob, wanted):
                    found[mid] = (fingerprint, result)
        return found

    @storage_errors
    def purged_mid(self, client_id: str) -> int:
        row = self.conn.execute(
            "SELECT purged_mid FROM clients WHERE client_id = ?", (client_id,)
        ).fetchone()
        return row[0] if row else 0

    @storage_errors
    def client_owner(self, client_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT sub FROM client_owners WHERE client_id = ?", (client_id,)).fetchone()
        return row[0] if row else None

    @storage_errors
    def bind_client(self, client_id: str, sub: str, bound_at: int) -> None:
        self._check_open()
        self.conn.execute("INSERT INTO client_owners (client_id, sub, bound_at) VALUES (?,?,?)",
                          (client_id, sub, bound_at))

    @storage_errors
    def load_rows(self, keys: list[RecordKey]) -> dict[RecordKey, Row]:
        groups: dict[tuple[str, str], list[str]] = {}
        for space, collection, record_id in keys:
            groups.setdefault((space, collection), []).append(record_id)
        found: dict[RecordKey, Row] = {}
        for (space, collection), ids in groups.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = self.conn.execute(
                    f"SELECT {RECORD_COLUMNS} FROM records WHERE space = ? AND collection = ? "
                    f"AND id IN ({','.join('?' * len(chunk))})", (space, collection, *chunk))
                for row in rows:
                    found[(space, collection, row[ID])] = row
        return found

    @storage_errors
    def load_record(self, space: str, collection: str, record_id: str) -> StoredRecord | None:
        row = self.conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM records WHERE space = ? AND collection = ? AND id = ?",
            (space, collection, record_id),
        ).fetchone()
        return StoredRecord(*row) if row is not None else None

    def next_seq(self, space: str) -> int:
        head = self.heads.get(space)
        if head is None:
            head = self._stored_head(space)
        self.heads[space] = head + 1
        return head + 1

    @storage_errors
    def _stored_head(self, space: str) -> int:
        row = self.conn.execute("SELECT seq FROM spaces WHERE space = ?", (space,)).fetchone()
        return int(row[0]) if row else 0

    @storage_errors
    def write_conflict(self, m: Mutation, client_id: str, policy: str, status: str,
                       server: str, outcome: str, created_at: int) -> int:
        self._check_open()
        client = conflict_client(m)
        cursor = self.conn.execute(
            "INSERT INTO conflicts (space, collection, record_id, client_id, mid, policy, status,"
            " base_version, server, client, outcome, created_at, resolved_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (m.space, m.collection, m.id, client_id, m.mid, policy, status, m.base_version,
             server, client, outcome, created_at, created_at if status == "resolved" else None),
        )
        return int(cursor.lastrowid or 0)

    @storage_errors
    def load_conflict(self, conflict_id: int) -> dict[str, Any] | None:
        cursor = self.conn.execute("SELECT * FROM conflicts WHERE id = ?", (conflict_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cursor.description], row, strict=True))

    @storage_errors
    def close_conflict(self, conflict_id: int, outcome: str, resolved_at: int) -> None:
        self._check_open()
        self.conn.execute(
            "UPDATE conflicts SET status = 'resolved', outcome = ?, resolved_at = ? WHERE id = ?",
            (outcome, resolved_at, conflict_id))

    @storage_errors
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @storage_errors
    def set_meta(self, key: str, value: str) -> None:
        self._check_open()
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    @storage_errors
    def add_meta(self, key: str, value: str) -> str:
        self._check_open()
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                          "DO NOTHING", (key, value))
        return self.get_meta(key) or value

    @storage_errors
    def flush(self) -> None:
        self._check_open()
        c = self.conn
        if self.rows:
            self._upsert_records()
        for client_id, entries in self.results.items():
            rows = mutation_log.batch_rows(client_id, entries, self.results_at)
            c.executemany(
                "INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, "
                "created_at, entries) VALUES (?,?,?,?,?,?)", rows)
        for space, seq in self.heads.items():
            c.execute(
                "INSERT INTO spaces (space, seq, horizon) VALUES (?, ?, 0) "
                "ON CONFLICT (space) DO UPDATE SET seq = excluded.seq",
                (space, seq),
            )

    def _upsert_records(self) -> None:
        """The buffered rows, by (space, collection), in statements of many rows each
        (upsert_sql): the space and collection are bound once per statement."""
        groups: dict[tuple[str, str], list[Row]] = {}
        for row in self.rows.values():
            group = groups.get((row[SPACE], row[COLLECTION]))
            if group is None:
                groups[(row[SPACE], row[COLLECTION])] = [row]
            else:
                group.append(row)
        execute = self.conn.execute
        for (space, collection), rows in groups.items():
            start, left = 0, len(rows)
            while left:
                size = ROWS_PER_STATEMENT if left >= ROWS_PER_STATEMENT else 1 << (
                    left.bit_length() - 1)  # 256, then powers of two: 9 statements at most
                params: list[object] = [space, collection]
                for row in rows[start:start + size]:
                    params += row[ID:]
                execute(upsert_sql(size), params)
                start, left = start + size, left - size


# A records upsert of many rows per statement, not one executemany row each: per row,
# executemany steps the statement once (its cursors opened and closed, the GIL let go and
# taken back) and binds all 11 values; here a statement of 256 rows is stepped once, and
# binds the space and the collection once (numbered parameters: ?1, ?2 in every row).
# Measured (load.instructions push-new): 121,848 -> 114,005 instructions per mutation with
# 64 rows a statement, 111,440 -> 110,586 from 64 to 256 (2 + 9 * 256 values bound, far
# below SQLite's 32,766).
ROWS_PER_STATEMENT = 256
_ROW_VALUES = len(RECORD_COLUMNS.split(",")) - 2  # per row: id .. change, owner
_CHANGE_VALUE = _ROW_VALUES - 2  # the change's place among them (records.CHANGE)


@functools.lru_cache(maxsize=10)
def upsert_sql(rows: int) -> str:
    # each row's change_size from its change, in SQL: the feed's byte budget reads the
    # size, not the text (storage/sqlite/pages.py). The owner is the row's own (push.py
    # keeps a record's and gives a re-created one its new creator's).
    def row(i: int) -> str:
        first = 3 + _ROW_VALUES * i
        values = ",".join(f"?{first + k}" for k in range(_ROW_VALUES - 1))
        owner = first + _ROW_VALUES - 1  # "" for nobody: records.OWNER
        return (f"(?1,?2,{values},nullif(?{owner},''),"
                f"length(CAST(?{first + _CHANGE_VALUE} AS BLOB)))")
    return (f"INSERT INTO records ({RECORD_COLUMNS}, change_size) "
            f"VALUES {','.join(row(i) for i in range(rows))} "
            "ON CONFLICT (space, collection, id) DO UPDATE SET version = excluded.version, "
            "seq = excluded.seq, deleted = excluded.deleted, hlc = excluded.hlc, "
            "updated_at = excluded.updated_at, data = excluded.data, "
            "meta = excluded.meta, change = excluded.change, "
            "change_size = excluded.change_size, owner = excluded.owner")
