"""A page of the feed on SQLite (Storage.changes): the changes of one space after a cursor,
in seq order, within a count and a byte budget, from one read transaction.

The page is one group_concat of the changes as stored (records.change_json renders each
when it is written): no Python object per change. Its budget is counted from each
record's stored size (`change_size`, written with it, migration 0009), not from the
changes' text:

- The fast path, one statement: the page's rows are concatenated, except any over a
  per-change cap (`max_bytes / limit`, commas included). If none was over it, the page is
  whole and within the budget; otherwise what was built (at most `max_bytes`) is dropped
  for the slow path. A probe of the first few rows' sizes sends pages of large records
  straight to the slow path.
- The slow path, for large records: the sizes are read row by row up to the budget (the
  first change always goes in), then that range is concatenated. A page is never built
  whole when it is over the budget: 3,000 hostile readers of pages of 250 KB records
  (load/hostile.py) once turned such work into CPU that starved the writer.

A `collections` filter reads each collection's range of the (space, collection, seq)
index and merges them in seq order (UNION ALL, ORDER BY seq, LIMIT): the changes of other
collections are never read, and a filter that matches nothing costs a probe per
collection (tests/storage/test_feed_filters.py checks the plan). What a reader's roles leave
it (storage/reading.py) is in the same statements: an owner-only collection's range adds
`owner = :sub`, and the space's range leaves out the hidden collections and others' records
of the owner-only ones; a reader that roles do not restrict runs the statements above.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache

import orjson

from ..base import Page, SpaceHead
from ..reading import Plan, Readable, reading
from .feed import CHANGE_JSON, read_head

PROBE_ROWS = 4  # rows whose sizes say whether a page is of large records

# A row's change and its size in bytes (a row without them, none should be, falls back to
# rendering and measuring it: migrations 0004 and 0009 filled in the rows written before).
_CHANGE = f"coalesce(change, {CHANGE_JSON})"
_SIZE = f"coalesce(change_size, length(CAST({_CHANGE} AS BLOB)))"


@lru_cache(maxsize=512)
def rows_statement(columns: str, plan: Plan, upto: bool = False) -> str:
    """The page's rows in seq order (seq and `columns` of each: change, size), LIMIT
    :limit. With arms, one index range per collection (:c0, :c1, ...), merged; the
    owner-only ones (the last plan.owned_arms) add `owner = :sub` (storage/reading.py)."""
    select = ", ".join(["seq", *({"change": f"{_CHANGE} AS change",
                                  "size": f"{_SIZE} AS size"}[c] for c in columns.split())])
    bound = " AND seq <= :upto" if upto else ""
    if plan.arms:
        mine = plan.arms - plan.owned_arms  # the first arm of the reader's own records
        arms = [f"SELECT {select} FROM records WHERE space = :space AND collection = :c{n}"
                f"{' AND owner = :sub' if n >= mine else ''} AND seq > :since{bound}"
                for n in range(plan.arms)]
        return f"{' UNION ALL '.join(arms)} ORDER BY seq LIMIT :limit"
    # One range of the space, filtered row by row. The names travel as JSON arrays: bound
    # one by one, SQLite's parse of a statement of n named parameters takes O(n^2) (105 s
    # for 250,000), and past 250,000 it refuses the statement.
    filters = ""
    if plan.names:  # a filter of more than MERGED_RANGES_MAX collections
        filters += " AND collection IN (SELECT value FROM json_each(:names))"
    if plan.hidden:
        filters += " AND collection NOT IN (SELECT value FROM json_each(:hidden))"
    if plan.owned:
        filters += (" AND (owner = :sub OR collection NOT IN "
                    "(SELECT value FROM json_each(:owned)))")
    index = " INDEXED BY ix_records_space_seq" if filters else ""
    return (f"SELECT {select} FROM records{index} WHERE space = :space AND seq > :since"
            f"{bound}{filters} ORDER BY seq LIMIT :limit")


@lru_cache(maxsize=512)
def _whole_page(plan: Plan) -> str:
    # The subquery yields rows in seq order and SQLite aggregates them in that order
    # (tests/core/test_changes_feed.py pages through updated records and checks it).
    return ("SELECT count(*), max(seq), max(size), CAST(group_concat(iif(size <= :cap, "
            f"change, NULL), ',') AS BLOB) FROM ({rows_statement('change size', plan)})")


def read_changes(conn: sqlite3.Connection, space: str, since: int, limit: int,
                 collections: list[str] | None, max_bytes: int = 1 << 62,
                 readable: Readable | None = None) -> tuple[Page, SpaceHead]:
    """Storage.changes: head and rows from one read transaction."""
    cap = (max_bytes + 1) // limit - 1  # `limit` changes of `cap` bytes and commas fit
    params: dict[str, object] = {"space": space, "since": since,
                                 "limit": min(limit, PROBE_ROWS), "cap": cap}
    plan, arms, names, hidden, owned, sub = reading(collections, readable)
    for i, name in enumerate(arms):
        params[f"c{i}"] = name
    if plan.names:
        params["names"] = orjson.dumps(names).decode()
    if plan.hidden:
        params["hidden"] = orjson.dumps(hidden).decode()
    if plan.owned:
        params["owned"] = orjson.dumps(owned).decode()
    if plan.owned or plan.owned_arms:
        params["sub"] = sub
    conn.execute("BEGIN")  # one snapshot for the head and the rows
    try:
        head = read_head(conn, space)
        (largest,) = conn.execute(f"SELECT max(size) FROM ({rows_statement('size', plan)})",
                                  params).fetchone()
        params["limit"] = limit
        count, last, joined, more = 0, since, b"", False
        if largest is not None and largest <= cap:  # the fast path
            count, last, largest, joined = conn.execute(_whole_page(plan), params).fetchone()
            if largest > cap:  # a large change further on: the slow path
                count, joined = 0, b""
        if largest is not None and not count:  # the slow path
            count, last, more = _within_budget(conn, params, plan, max_bytes)
            params["upto"] = last
            (joined,) = conn.execute("SELECT CAST(group_concat(change, ',') AS BLOB) FROM "
                                     f"({rows_statement('change', plan, upto=True)})",
                                     params).fetchone()
        if count == limit and not more:
            params.update(since=last, limit=1)
            more = conn.execute(rows_statement("", plan), params).fetchone() is not None
    finally:
        conn.execute("COMMIT")
    if not more:
        last = max(head.seq, since)
    return Page(joined if count else b"", count, last, more), head


def _within_budget(conn: sqlite3.Connection, params: dict[str, object], plan: Plan,
                   max_bytes: int) -> tuple[int, int, bool]:
    """The slow path's range: (count, last seq, more) of the rows whose changes and commas
    fit `max_bytes` (the first always goes in), their sizes read one row at a time. Large
    records only: Python's cost per row does not matter here."""
    count, total, last = 0, -1, 0
    for seq, size in conn.execute(rows_statement("size", plan), params):
        if count and total + 1 + size > max_bytes:
            return count, last, True
        count, total, last = count + 1, total + 1 + size, seq
    return count, last, False
