"""The SQLite storage's reads: space heads, rows by seq, the conflict audit, meta values.
Each function runs on a reader thread with that thread's own connection (storage/sqlite/backend.py,
WAL: reads run beside the writer)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ...model.records import Row
from ..base import SpaceHead
from ..reading import Dialect, Readable, conflicts_restriction

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
        f"coalesce(change, {CHANGE_JSON}), owner FROM records WHERE space = ? AND seq > ? "
        "AND seq <= ? ORDER BY seq", (space, after, upto)).fetchall()


# Lists of names bound as one JSON array each
JSON_LISTS = Dialect("{} IN (SELECT value FROM json_each(?))",
                     "{} NOT IN (SELECT value FROM json_each(?))", "?",
                     lambda names: orjson.dumps(names).decode())


def read_conflicts(conn: sqlite3.Connection, filters: dict[str, str], after: int, limit: int,
                   spaces: list[str] | None = None,
                   restricted: dict[str, Readable] | None = None) -> list[dict[str, Any]]:
    """`spaces`: only conflicts of these spaces (None: any); `restricted`: what the
    reader's roles leave it of some (storage/reading.py); filtered in the query so that a
    page is full whatever the other spaces hold."""
    where = ["id > ?"]
    params: list[object] = [after]
    if spaces is not None:
        if not spaces:
            return []
        where.append(f"space IN ({','.join('?' * len(spaces))})")
        params.extend(spaces)
    if restricted:
        condition, values = conflicts_restriction(restricted, JSON_LISTS)
        where.append(condition)
        params.extend(values)
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
