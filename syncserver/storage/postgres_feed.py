"""The feed's reads on PostgreSQL: a page of changes and the space's head, from one snapshot.

A page is one query: the rows after the cursor, in seq order, one more than the page
holds (so `more` needs no second query), a running sum of their sizes (the byte budget),
and one string_agg of the changes as stored: no Python object per change. It runs in a
REPEATABLE READ READ ONLY transaction, so the head read first and the rows are one
snapshot (as on SQLite, where the read transaction gives the same).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.adapt import Loader

from .base import Page, SpaceHead


class _TextAsBytes(Loader):
    """The page's text as the bytes PostgreSQL sent (UTF-8): no decoding into a str and
    encoding back in the server's process, whose CPU is the feed's bottleneck."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


# `n` numbers the rows read (limit + 1 at most); `run` is the bytes up to and including a
# row. A row is in the page when it is within the limit and within the budget, or the
# first (which always goes in, whatever its size).
_PAGE = (
    "SELECT count(*), count(*) FILTER (WHERE keep), max(seq) FILTER (WHERE keep), "
    "string_agg(change, ',' ORDER BY seq) FILTER (WHERE keep) "
    "FROM (SELECT seq, change, n <= %(limit)s AND (n = 1 OR run <= %(budget)s) AS keep FROM ("
    "SELECT seq, change, row_number() OVER w AS n, sum(octet_length(change)) OVER w AS run "
    "FROM (SELECT seq, change FROM records WHERE {where} ORDER BY seq LIMIT %(read)s) r "
    "WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)) p) k"
)


def head_now(conn: psycopg.Connection[Any], space: str) -> SpaceHead:
    row = conn.execute("SELECT seq, horizon FROM spaces WHERE space = %s", (space,)).fetchone()
    return SpaceHead(int(row[0]), int(row[1])) if row else SpaceHead()


def changes_now(conn: psycopg.Connection[Any], space: str, since: int, limit: int,
                collections: list[str] | None, max_bytes: int) -> tuple[Page, SpaceHead]:
    """Up to `limit` changes of `space` after `since` (storage/base.py Storage.changes);
    `conn` is an idle connection of the pool, in autocommit mode."""
    where = "space = %(space)s AND seq > %(since)s"
    params: dict[str, Any] = {"space": space, "since": since, "limit": limit,
                              "budget": max_bytes, "read": limit + 1}
    if collections:
        where += " AND collection = ANY(%(collections)s)"
        params["collections"] = collections
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        head = head_now(conn, space)
        with conn.cursor() as cursor:
            cursor.adapters.register_loader("text", _TextAsBytes)
            row = cursor.execute(_PAGE.format(where=where), params).fetchone()
    assert row is not None
    read, count, last, joined = row
    more = count < read
    if not more:
        last = max(head.seq, since)
    return Page(joined if count else b"", count, int(last), more), head
