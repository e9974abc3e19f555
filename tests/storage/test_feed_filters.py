"""The feed filtered by collection (issue 22), on SQLite and on PostgreSQL: its pages are the
unfiltered feed's changes of those collections, in the same order, paged within the count
and the byte budget; and its reads use the (space, collection, seq) index, never a scan of
the space's other changes (the plan of every statement a filtered page runs).

The pages are read by the backends' own page functions (sqlite/pages.py, postgres/feed.py)
on a connection of the test's, over a history written by the real push path."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncserver.storage.base import Page, SpaceHead
from syncserver.storage.migrate import libpq_url
from syncserver.storage.postgres import feed as postgres_feed
from syncserver.storage.reading import Plan, Readable
from syncserver.storage.sqlite import pages as sqlite_pages
from tests.storage.conftest import migrated
from tests.storage.support import Backend, delete, push, put

COLLECTIONS = ["todos", "notes", "tags", "empty"]  # "empty" is never written
FILTER_INDEX = "ix_records_space_collection_seq"


def _history(seed: int = 22) -> list[list[dict[str, Any]]]:
    """Batches of puts, updates and deletes over three collections, a few records large
    (so that pages take the budget's slow path): updates leave gaps in the seqs."""
    rng = random.Random(seed)
    batches, mid, live = [], 0, {}
    for _ in range(12):
        batch = []
        for _ in range(rng.randint(5, 25)):
            mid += 1
            key = (rng.choice(COLLECTIONS[:3]), f"r{rng.randint(0, 60)}")
            size = rng.choice([10, 10, 10, 200, 3000])
            if key in live and rng.random() < 0.15:
                batch.append(delete(mid, key[1], live.pop(key), collection=key[0]))
            elif key not in live:
                batch.append(put(mid, key[1], {"pad": "é" * size}, collection=key[0]))
                live[key] = 1
        batches.append(batch)
        # one batch per push: its results fix the base versions of the next updates
    return batches


def _write(backend: Backend) -> None:
    async def scenario(s: Any) -> None:
        for batch in _history():
            results = await push(s, "c1", batch)
            assert all(r["status"] == "applied" for r in results), results
        # and updates of records already there: their changes move to the end of the feed
        again = [put(1000 + n, f"r{n}", {"v": n}, base=1, collection="todos")
                 for n in range(0, 60, 7)]
        await push(s, "c1", again)

    backend.run(scenario)


class Reader:
    """Storage.changes of one backend, called on a connection of the test's own."""

    def __init__(self, backend: Backend) -> None:
        self.kind = backend.kind
        if backend.kind == "sqlite":
            self.sqlite = sqlite3.connect(backend.db, isolation_level=None)
        else:
            self.postgres = psycopg.connect(libpq_url(backend.db), autocommit=True)

    def page(self, since: int, limit: int, collections: list[str] | None,
             max_bytes: int = 1 << 62, readable: Readable | None = None
             ) -> tuple[Page, SpaceHead]:
        if self.kind == "sqlite":
            return sqlite_pages.read_changes(self.sqlite, "s1", since, limit, collections,
                                             max_bytes, readable)
        return postgres_feed.changes_now(self.postgres, "s1", since, limit, collections,
                                         max_bytes, readable)

    def owners(self) -> dict[tuple[str, str], str | None]:
        """(collection, id) -> owner, as stored (tests/storage/test_feed_roles.py)."""
        sql = "SELECT collection, id, owner FROM records WHERE space = 's1'"
        rows = self.sqlite.execute(sql).fetchall() if self.kind == "sqlite" else \
            self.postgres.execute(sql).fetchall()
        return {(c, i): o for c, i, o in rows}

    def close(self) -> None:
        (self.sqlite if self.kind == "sqlite" else self.postgres).close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, since: int, limit: int, collections: list[str] | None,
              max_bytes: int) -> Iterator[tuple[Page, list[dict[str, Any]]]]:
        more = True
        while more:
            page, _ = self.page(since, limit, collections, max_bytes)
            yield page, orjson.loads(b"[" + page.changes + b"]")
            assert page.last_seq > since or not page.more
            since, more = page.last_seq, page.more


@pytest.fixture
def reader(backend: Backend) -> Iterator[Reader]:
    _write(backend)
    with Reader(backend) as opened:
        yield opened


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.lists(st.sampled_from(COLLECTIONS), min_size=1, max_size=4, unique=True),
       limit=st.integers(1, 40), max_bytes=st.sampled_from([1_024, 5_000, 40_000, 1 << 62]),
       start=st.integers(0, 250))
def test_filtered_pages_are_the_feed_filtered(reader: Reader, chosen: list[str], limit: int,
                                              max_bytes: int, start: int) -> None:
    everything, head = reader.page(0, 1000, None)
    assert not everything.more
    feed = orjson.loads(b"[" + everything.changes + b"]")
    since = min(start, head.seq)
    wanted = [c for c in feed if c["collection"] in chosen and c["seq"] > since]

    read: list[dict[str, Any]] = []
    pages = list(reader.pages(since, limit, chosen, max_bytes))
    for n, (page, changes) in enumerate(pages):
        assert page.count == len(changes) <= limit
        assert len(page.changes) <= max_bytes or page.count == 1
        last = n == len(pages) - 1
        assert page.more == (not last)
        if not last:  # a page cut short by the budget: the next change would not fit
            assert changes and page.last_seq == changes[-1]["seq"]
        read += changes
    assert read == wanted
    assert pages[-1][0].last_seq == max(head.seq, since)  # the cursor ends at the head


# past 500: SQLite refused such a UNION ALL; 250,001: bound one by one, SQLite took 105 s
# to parse the statement (and refuses one of more than 250,000 parameters)
@pytest.mark.parametrize("extra", [150, 600, 250_001])
def test_a_filter_of_hundreds_of_collections_reads_the_range_filtered(reader: Reader,
                                                                      extra: int) -> None:
    """Past MERGED_RANGES_MAX names (an operator may raise SYNCSERVER_MAX_FILTER_COLLECTIONS
    to 1,000,000) a page is the space's range filtered, not a merge: SQLite refuses a UNION
    ALL of more than 500 arms, which made every such page an internal error."""
    chosen = ["notes", "tags", *(f"none{n}" for n in range(extra))]
    everything, _ = reader.page(0, 1000, None)
    feed = orjson.loads(b"[" + everything.changes + b"]")
    read = [c for _, changes in reader.pages(3, 7, chosen, 5_000) for c in changes]
    wanted = set(chosen)
    assert read == [c for c in feed if c["collection"] in wanted and c["seq"] > 3]
    assert read  # both collections hold records


def test_the_unfiltered_pages_are_cut_by_count_and_budget(reader: Reader) -> None:
    everything, _ = reader.page(0, 1000, None)
    feed = orjson.loads(b"[" + everything.changes + b"]")
    assert [c["seq"] for c in feed] == sorted(c["seq"] for c in feed)
    for limit, max_bytes in [(7, 1 << 62), (1000, 4_000), (3, 1_024), (50, 20_000)]:
        read = [c for _page, changes in reader.pages(0, limit, None, max_bytes)
                for c in changes]
        assert read == feed


# -- the plans ---------------------------------------------------------------------------

def _sqlite_statements(reader: Reader, collections: list[str], max_bytes: int) -> list[str]:
    """Every statement a filtered page ran, its parameters inlined."""
    ran: list[str] = []
    reader.sqlite.set_trace_callback(ran.append)
    try:
        reader.page(0, 5, collections, max_bytes)
    finally:
        reader.sqlite.set_trace_callback(None)
    return [s for s in ran if "FROM records" in s or "FROM (SELECT" in s]


@pytest.mark.parametrize("collections", [["notes"], ["notes", "empty", "tags"], ["empty"]])
@pytest.mark.parametrize("max_bytes", [1 << 62, 1_024])  # the fast and the slow path
def test_a_filtered_page_reads_only_its_collections_on_sqlite(tmp_path: Path,
                                                               collections: list[str],
                                                               max_bytes: int) -> None:
    backend = migrated(str(tmp_path / "plan.db"))
    _write(backend)
    reader = Reader(backend)
    try:
        statements = _sqlite_statements(reader, collections, max_bytes)
        assert statements
        assert_index_ranges(reader.sqlite, statements)
    finally:
        reader.close()


def assert_index_ranges(conn: sqlite3.Connection, statements: list[str]) -> None:
    """Each statement reads records by one index range per collection, in seq order."""
    for statement in statements:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
        reads = [step for step in plan if " records " in f"{step} "]
        assert reads, plan
        for step in reads:
            assert step.startswith(("SEARCH records USING INDEX " + FILTER_INDEX,
                                    "SEARCH records USING COVERING INDEX " + FILTER_INDEX)
                                   ), plan
            assert "collection=? AND seq>?" in step, plan
        assert not any("TEMP B-TREE" in step for step in plan), plan


@pytest.mark.parametrize("collections", [["notes"], ["notes", "empty", "tags"]])
def test_a_filtered_page_reads_only_its_collections_on_postgresql(postgres: Backend,
                                                                   collections: list[str]
                                                                   ) -> None:
    _write(postgres)
    params: dict[str, Any] = {"space": "s1", "since": 0, "limit": 5, "read": 6,
                              "budget": 1 << 62}
    params.update({f"c{n}": name for n, name in enumerate(collections)})
    with psycopg.connect(libpq_url(postgres.db)) as conn:
        cursor = psycopg.ClientCursor(conn)
        for statement in postgres_feed.PIN:
            cursor.execute(statement)
        statement = postgres_feed.page_statement(Plan(arms=len(collections)))
        cursor.execute("EXPLAIN " + statement, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scans = [line for line in plan.splitlines() if " on records" in line]
    assert len(scans) == len(collections), plan
    for line in scans:
        assert f"Index Scan using {FILTER_INDEX} on records" in line, plan
    assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
    if len(collections) > 1:
        assert "Merge Append" in plan, plan
    assert "\n  ->  Sort" not in plan and " Sort " not in plan.replace("Sort Key", ""), plan
