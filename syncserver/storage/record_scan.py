"""A read of every live record of some collections, a page at a time, in key order: what
`syncserver collections check` validates against a new file. The statements both
backends run (SQLite on a reader connection, PostgreSQL on a pooled one); each page is one
short read, so a scan of millions of records holds no more than a page in memory and no
transaction open between pages (a record written meanwhile may or may not be seen).

Pages follow the primary key (space, collection, id): a page starts where the last one
ended, a seek into the key's index, whatever the number of records before it.
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

import orjson

from ..model.records import RecordKey

# Before every key: a space name is never empty (mutations.SPACE_PATTERN).
START: RecordKey = ("", "", "")


class ScannedRecord(NamedTuple):
    space: str
    collection: str
    id: str
    data: str | None  # the record's data as stored (JSON text)

    @property
    def key(self) -> RecordKey:
        return (self.space, self.collection, self.id)


def _names(conn: Any, collections: list[str]) -> tuple[str, Any]:
    """The collections filter and its parameter: SQLite gets the names as one JSON array
    (a statement of any number of them), PostgreSQL as an array."""
    if isinstance(conn, sqlite3.Connection):
        return "collection IN (SELECT value FROM json_each(?))", orjson.dumps(collections).decode()
    return "collection = ANY(%s)", collections


def _placeholders(conn: Any, text: str) -> str:
    return text.replace("%s", "?") if isinstance(conn, sqlite3.Connection) else text


def scan_page(conn: Any, collections: list[str], after: RecordKey, limit: int
              ) -> list[ScannedRecord]:
    """Up to `limit` live records of `collections` whose key comes after `after`, by key."""
    if not collections:
        return []
    where, names = _names(conn, collections)
    rows = conn.execute(_placeholders(conn, (
        "SELECT space, collection, id, data FROM records "
        f"WHERE (space, collection, id) > (%s, %s, %s) AND NOT deleted AND {where} "
        "ORDER BY space, collection, id LIMIT %s")), (*after, names, limit)).fetchall()
    return [ScannedRecord(*row) for row in rows]


def count(conn: Any, collections: list[str]) -> int:
    """How many live records `collections` hold (the scan's total, for its progress)."""
    if not collections:
        return 0
    where, names = _names(conn, collections)
    row = conn.execute(_placeholders(conn, f"SELECT count(*) FROM records WHERE NOT deleted "
                                           f"AND {where}"), (names,)).fetchone()
    return int(row[0])
