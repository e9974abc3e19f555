"""The SQLite storage's reads: feed pages, space heads, the conflict audit, meta values.
Each function runs on a reader thread with that thread's own connection (storage/sqlite/backend.py,
WAL: reads run beside the writer)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ...model.records import Row
from ..base import Page, SpaceHead

# A page of the feed is one group_concat of the changes as stored (records.change_json
# renders each when it is written): the changefeed's hot path makes no Python object per
# change. CHANGE_JSON renders the same text in SQL; migration 0004 used it to fill in the
# rows written before, and a row without its change (none should be) falls back to it.
CHANGE_JSON = (
    "format('{\"space\":\"%s\",\"collection\":\"%s\",\"id\":%s,\"version\":%d,\"seq\":%d,"
    "\"deleted\":%s,\"hlc\":\"%s\",\"updated_at\":%d,\"data\":%s}', space, collection, "
    "json_quote(id), version, seq, iif(deleted, 'true', 'false'), hlc, updated_at, "
    "iif(deleted, 'null', coalesce(data, 'null')))"
)


def read_head(conn: sqlite3.Connection, space: str) -> SpaceHead:
    row = conn.execute("SELECT seq, horizon FROM spaces WHERE space = ?", (space,)).fetchone()
    if row is None:
        return SpaceHead()
    seq, horizon = row
    return SpaceHead(seq, horizon)


def read_heads(conn: sqlite3.Connection, spaces: list[str]) -> dict[str, int]:
    # The names travel as one JSON array: one statement however many there are (bound
    # parameters would need a statement per 500 or so), each a probe of the primary key.
    return dict(conn.execute(
        "SELECT space, seq FROM spaces WHERE space IN (SELECT value FROM json_each(?))",
        (orjson.dumps(spaces).decode(),)).fetchall())


def read_written_spaces(conn: sqlite3.Connection, limit: int) -> dict[str, int]:
    return dict(conn.execute("SELECT space, seq FROM spaces WHERE seq > 0 ORDER BY space "
                             "LIMIT ?", (limit,)).fetchall())


def read_rows_between(conn: sqlite3.Connection, space: str, after: int,
                      upto: int) -> list[Row]:
    return conn.execute(
        "SELECT space, collection, id, version, seq, deleted, hlc, updated_at, data, meta, "
        f"coalesce(change, {CHANGE_JSON}) FROM records WHERE space = ? AND seq > ? "
        "AND seq <= ? ORDER BY seq", (space, after, upto)).fetchall()


PROBE_ROWS = 4  # rows whose size says whether summing a whole page is cheap


def read_changes(conn: sqlite3.Connection, space: str, since: int, limit: int,
                 collections: list[str] | None,
                 max_bytes: int = 1 << 62) -> tuple[Page, SpaceHead]:
    """Storage.changes: the page is assembled in SQL (group_concat of the stored changes),
    head and rows from one read transaction."""
    where = "space = ? AND seq > ?"
    params: list[object] = [space, since]
    if collections:
        where += f" AND collection IN ({','.join('?' * len(collections))})"
        params.extend(collections)
    conn.execute("BEGIN")  # one snapshot for the head and the rows
    try:
        head = read_head(conn, space)
        # The subquery yields rows in seq order and SQLite aggregates them in that
        # order (tests/core/test_changes_feed.py pages through updated records and checks it).
        # The page also stops at `max_bytes` of changes (the first change always goes
        # in), so that a page of 1,000 large records is never built whole in memory.
        # The page's size is summed first; only a page over the budget is read row by
        # row. Summing reads every row's content, so it is done for all `limit` rows only
        # when the first few say the rows are small: for large records a sum over the
        # whole range cost each page read 40x its own size (a 250 KB page of a range of
        # 1,000 records of 250 KB), which 3,000 hostile readers turned into CPU that
        # starved the writer (load/hostile.py).
        rows = f"SELECT seq, coalesce(change, {CHANGE_JSON}) AS change FROM records " \
            f"WHERE {where} ORDER BY seq LIMIT ?"
        total_of = f"SELECT count(*), sum(length(CAST(change AS BLOB))) FROM ({rows})"
        sample = min(limit, PROBE_ROWS)
        read, size = conn.execute(total_of, (*params, sample)).fetchone()
        small = read < sample or (size or 0) * limit <= max_bytes * sample
        if small and read == sample < limit:
            read, size = conn.execute(total_of, (*params, limit)).fetchone()
        if small and (read <= 1 or size <= max_bytes):
            count, last, joined = conn.execute(
                "SELECT count(*), max(seq), CAST(group_concat(change, ',') AS BLOB) "
                f"FROM ({rows})", (*params, limit)).fetchone()
            more = count < read
        else:
            # Rows one at a time, up to the budget. (A window function over the rows had
            # SQLite hold all of them and the growing result at once in each reader
            # thread: 30 MB per page read of 250 KB records, kept by the allocator.)
            # Large rows: Python's cost per row does not matter here.
            parts: list[bytes] = []
            total, last, more = 0, since, False
            for seq, change in conn.execute(f"SELECT seq, CAST(change AS BLOB) FROM ({rows})",
                                            (*params, limit)):
                # the page's bytes: the changes and the commas between them
                if parts and total + 1 + len(change) > max_bytes:
                    more = True
                    break
                total += len(change) + (1 if parts else 0)
                parts.append(change)
                last = seq
            count, joined = len(parts), b",".join(parts)
            del parts
        more = more or (count == limit and conn.execute(
            f"SELECT 1 FROM records WHERE {where} LIMIT 1",
            (space, last, *params[2:])).fetchone() is not None)
    finally:
        conn.execute("COMMIT")
    if not more:
        last = max(head.seq, since)
    return Page(joined if count else b"", count, last, more), head


def read_conflicts(conn: sqlite3.Connection, filters: dict[str, str], after: int, limit: int,
                   spaces: list[str] | None = None) -> list[dict[str, Any]]:
    """`spaces`: only conflicts of these spaces (None: any), filtered in the query so
    that a page is full whatever the other spaces hold."""
    where = ["id > ?"]
    params: list[object] = [after]
    if spaces is not None:
        if not spaces:
            return []
        where.append(f"space IN ({','.join('?' * len(spaces))})")
        params.extend(spaces)
    for column in ("space", "collection", "record_id", "status"):
        if filters.get(column):
            where.append(f"{column} = ?")
            params.append(filters[column])
    cursor = conn.execute(
        f"SELECT * FROM conflicts WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        (*params, limit))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])
