"""The feed's reads on PostgreSQL: a page of changes and the space's head, from one snapshot.

A page is one statement: the space's head and horizon, and the rows after the cursor in
seq order, one more than the page holds (so `more` needs no second query), with a running
sum of their sizes (the byte budget) and one string_agg of the changes as stored: no
Python object per change. One statement sees one snapshot, so the head and the rows agree
(as on SQLite, where the read transaction gives the same).

The byte budget adds up each record's stored size (`change_size`, migration 0009; a row
without it, none should be, is measured). A `collections` filter reads each collection's
range of the (space, collection, seq) index, merged in seq order (UNION ALL under ORDER BY
and LIMIT: a Merge Append), so the changes of other collections are never read
(tests/storage/test_feed_filters.py checks the plan). What a reader's roles leave it
(storage/reading.py) is in the same statement, as on SQLite.

The plan is pinned to the indexes in seq order (bitmap scans and sorts off for
this transaction only): a new table is planned as if nearly empty until autovacuum first
analyzes it, and the planner then chose a bitmap scan of the whole space and a sort, 130 ms
a page at 100,000 records (7,400 changes/s for a first sync instead of ~200,000). The
statements go in one pipeline: one network round trip per page.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import psycopg
from psycopg.adapt import Loader

from ...model.records import Row
from ..base import Page, SpaceHead
from ..reading import Plan, Readable, reading
from ..write_buffer import RECORD_COLUMNS


class _TextAsBytes(Loader):
    """The page's text as the bytes PostgreSQL sent (UTF-8): no decoding into a str and
    encoding back in the server's process, whose CPU is the feed's bottleneck."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


PIN = ("SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_sort = off",
        "SET LOCAL enable_seqscan = off")
_HEAD = "(SELECT {0} FROM spaces WHERE space = %(space)s)"


# `n` numbers the rows read (limit + 1 at most); `run` is the bytes up to and including a
# row, the commas between the changes counted. A row is in the page when it is within the
# limit and within the budget, or the first (which always goes in, whatever its size).
_PAGE = (
    f"SELECT {_HEAD.format('seq')}, {_HEAD.format('horizon')}, "
    "count(*), count(*) FILTER (WHERE keep), max(seq) FILTER (WHERE keep), "
    "string_agg(change, ',' ORDER BY seq) FILTER (WHERE keep) "
    "FROM (SELECT seq, change, n <= %(limit)s AND (n = 1 OR run <= %(budget)s) AS keep FROM ("
    "SELECT seq, change, row_number() OVER w AS n, "
    "sum(coalesce(change_size, octet_length(change)) + 1) OVER w - 1 AS run "
    "FROM ({rows}) r WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)) p) k"
)
_ROWS = "SELECT seq, change, change_size FROM records WHERE space = %(space)s{where} " \
    "AND seq > %(since)s ORDER BY seq LIMIT %(read)s"


@lru_cache(maxsize=512)
def page_statement(plan: Plan) -> str:
    """The page's statement; with arms, one index range per collection (%(c0)s, ...), the
    owner-only ones (the last plan.owned_arms) adding `owner = %(sub)s`
    (storage/reading.py); without, the space's range, filtered row by row."""
    if plan.arms:
        mine = plan.arms - plan.owned_arms  # the first arm of the reader's own records
        arms = [_ROWS.format(where=f" AND collection = %(c{n})s"
                             + (" AND owner = %(sub)s" if n >= mine else ""))
                for n in range(plan.arms)]
        if len(arms) == 1:
            return _PAGE.format(rows=arms[0])
        arms = [f"({arm})" for arm in arms]
        return _PAGE.format(rows=f"{' UNION ALL '.join(arms)} ORDER BY seq LIMIT %(read)s")
    where = ""
    if plan.names:  # a filter of more than MERGED_RANGES_MAX collections
        where += " AND collection = ANY(%(collections)s)"
    if plan.hidden:
        where += " AND collection <> ALL(%(hidden)s)"
    if plan.owned:
        where += " AND (owner = %(sub)s OR collection <> ALL(%(owned)s))"
    return _PAGE.format(rows=_ROWS.format(where=where))


def head_now(conn: psycopg.Connection[Any], space: str) -> SpaceHead:
    row = conn.execute("SELECT seq, horizon FROM spaces WHERE space = %s", (space,)).fetchone()
    if row is None:
        return SpaceHead()
    seq, horizon = row
    return SpaceHead(int(seq), int(horizon))


def heads_now(conn: psycopg.Connection[Any], spaces: list[str]) -> dict[str, int]:
    rows = conn.execute("SELECT space, seq FROM spaces WHERE space = ANY(%s)",
                        (spaces,)).fetchall()
    return {str(space): int(seq) for space, seq in rows}


def written_spaces_now(conn: psycopg.Connection[Any], limit: int) -> dict[str, int]:
    rows = conn.execute("SELECT space, seq FROM spaces WHERE seq > 0 ORDER BY space LIMIT %s",
                        (limit,)).fetchall()
    return {str(space): int(seq) for space, seq in rows}


def rows_between_now(conn: psycopg.Connection[Any], space: str, after: int,
                     upto: int) -> list[Row]:
    """Storage.rows_between: a range of the (space, seq) index."""
    return conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM records WHERE space = %s AND seq > %s AND seq <= %s "
        "ORDER BY seq", (space, after, upto)).fetchall()


def changes_now(conn: psycopg.Connection[Any], space: str, since: int, limit: int,
                collections: list[str] | None, max_bytes: int,
                readable: Readable | None = None) -> tuple[Page, SpaceHead]:
    """Up to `limit` changes of `space` after `since` (storage/base.py Storage.changes);
    `conn` is an idle connection of the pool, in autocommit mode."""
    params: dict[str, Any] = {"space": space, "since": since, "limit": limit,
                              "budget": max_bytes, "read": limit + 1}
    plan, arms, names, hidden, owned, sub = reading(collections, readable)
    for n, name in enumerate(arms):
        params[f"c{n}"] = name
    if plan.names:
        params["collections"] = names
    if plan.hidden:
        params["hidden"] = hidden
    if plan.owned:
        params["owned"] = owned
    if plan.owned or plan.owned_arms:
        params["sub"] = sub
    with conn.cursor() as cursor, conn.pipeline():
        cursor.adapters.register_loader("text", _TextAsBytes)
        with conn.transaction():
            for statement in PIN:
                cursor.execute(statement)
            cursor.execute(page_statement(plan), params)
        row = cursor.fetchone()
    assert row is not None
    seq, horizon, read, count, last, joined = row
    head = SpaceHead(int(seq or 0), int(horizon or 0))
    more = count < read
    if not more:
        last = max(head.seq, since)
    return Page(joined if count else b"", count, int(last), more), head
