"""The feed restricted by a reader's roles (issue 23, storage/reading.py), on SQLite and on
PostgreSQL: a page is the unrestricted feed less what the reader may not read (the hidden
collections, and the records of others in the owner-only ones), in the same order, paged
within the count and the byte budget as before: the restriction is in the statements, so
a page is never cut short by records it left out. A filtered owner-only page still reads
each collection's index range in seq order. Without a restriction, the statements are
those of a server without roles."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncserver.core.push import apply_batch
from syncserver.model.hlc import Clock
from syncserver.model.mutations import parse_mutation
from syncserver.model.policies import PolicyTable
from syncserver.storage.migrate import libpq_url
from syncserver.storage.postgres import feed as postgres_feed
from syncserver.storage.reading import Plan, Readable, reading
from syncserver.storage.sqlite import pages as sqlite_pages
from tests.helpers import stamped_by
from tests.storage.conftest import migrated
from tests.storage.support import MAX_RECORD, Backend, delete, put
from tests.storage.test_feed_filters import FILTER_INDEX, Reader, assert_index_ranges

COLLECTIONS = ["todos", "notes", "tags", "empty"]  # "empty" is never written
USERS = ["alice", "bob", "carol"]


def _write(backend: Backend) -> None:
    """Records of three users in three collections, some updated or deleted by others (the
    owner stays the creator's), some deleted and put again (a new owner), a few large."""
    rng = random.Random(23)
    versions: dict[tuple[str, str], int] = {}

    async def scenario(s: Any) -> None:
        mid = 0
        for _ in range(14):
            user = rng.choice(USERS)
            batch = []
            for _ in range(rng.randint(4, 20)):
                mid += 1
                key = (rng.choice(COLLECTIONS[:3]), f"r{rng.randint(0, 50)}")
                size = rng.choice([10, 10, 10, 300, 3000])
                base = versions.get(key, 0)
                if base and rng.random() < 0.2:
                    batch.append(delete(mid, key[1], base, collection=key[0]))
                else:
                    batch.append(put(mid, key[1], {"pad": "é" * size}, base=base,
                                     collection=key[0]))
            client = f"c-{user}"
            items = [parse_mutation(m, MAX_RECORD) for m in stamped_by(client, batch)]
            result = await s.write(lambda txn, items=items, client=client, user=user:
                                   apply_batch(txn, client, items, Clock(60_000),
                                               PolicyTable(), MAX_RECORD, sub=user))
            for m, raw in zip(batch, result.results, strict=True):
                answer = orjson.loads(raw)
                if "version" in answer:
                    versions[(m["collection"], m["id"])] = answer["version"]

    backend.run(scenario)


@pytest.fixture
def reader(backend: Backend) -> Iterator[Reader]:
    _write(backend)
    with Reader(backend) as opened:
        yield opened


def _readables() -> st.SearchStrategy[Readable]:
    return st.builds(
        lambda hidden, owned, sub: Readable(frozenset(hidden), frozenset(owned - hidden),
                                            sub if owned - hidden else ""),
        st.sets(st.sampled_from(COLLECTIONS), max_size=2),
        st.sets(st.sampled_from(COLLECTIONS), max_size=3), st.sampled_from(USERS))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(readable=_readables(), filtered=st.booleans(),
       chosen=st.lists(st.sampled_from(COLLECTIONS), min_size=1, max_size=4, unique=True),
       limit=st.integers(1, 30), max_bytes=st.sampled_from([1_024, 5_000, 1 << 62]),
       start=st.integers(0, 150))
def test_restricted_pages_are_the_feed_less_what_the_reader_may_not_read(
        reader: Reader, readable: Readable, filtered: bool, chosen: list[str], limit: int,
        max_bytes: int, start: int) -> None:
    collections = [c for c in chosen if c not in readable.hidden] if filtered else None
    if collections == []:
        collections = None
    everything, head = reader.page(0, 10_000, None, 1 << 62, None)
    feed = orjson.loads(b"[" + everything.changes + b"]")
    owners = reader.owners()
    since = min(start, head.seq)
    wanted = [c for c in feed if c["seq"] > since
              and (collections is None or c["collection"] in collections)
              and readable.admits(c["collection"], owners[(c["collection"], c["id"])])]

    read: list[dict[str, Any]] = []
    more = True
    while more:
        page, _ = reader.page(since, limit, collections, max_bytes, readable)
        changes = orjson.loads(b"[" + page.changes + b"]")
        assert page.count == len(changes) <= limit
        assert len(page.changes) <= max_bytes or page.count == 1
        read += changes
        assert page.last_seq > since or not page.more
        since, more = page.last_seq, page.more
    assert read == wanted
    assert since == head.seq  # the cursor ends at the head, past the hidden changes


def test_a_page_is_full_though_hidden_changes_lie_between(reader: Reader) -> None:
    everything, _ = reader.page(0, 10_000, None, 1 << 62, None)
    feed = orjson.loads(b"[" + everything.changes + b"]")
    owners = reader.owners()
    readable = Readable(frozenset({"todos"}), frozenset({"notes"}), "bob")
    visible = [c for c in feed if readable.admits(c["collection"],
                                                  owners[(c["collection"], c["id"])])]
    assert 10 < len(visible) < len(feed) - 10  # plenty hidden, plenty shown
    since, pages = 0, []
    while True:
        page, _ = reader.page(since, 4, None, 1 << 62, readable)
        pages.append(page.count)
        since = page.last_seq
        if not page.more:
            break
    assert all(count == 4 for count in pages[:-1]), pages


def test_without_a_restriction_the_statements_are_those_without_roles() -> None:
    assert reading(None, None).plan == Plan()
    assert reading(["notes", "tags"], None).plan == Plan(arms=2)
    assert reading([f"c{i}" for i in range(150)], None).plan == Plan(names=True)
    # the statements a server without roles ran (issue 22), character for character
    change = "coalesce(change, " + sqlite_pages.CHANGE_JSON + ") AS change"
    assert sqlite_pages.rows_statement("change", Plan()) == (
        f"SELECT seq, {change} FROM records WHERE space = :space AND seq > :since "
        "ORDER BY seq LIMIT :limit")
    assert sqlite_pages.rows_statement("change", Plan(arms=1)) == (
        f"SELECT seq, {change} FROM records WHERE space = :space AND collection = :c0 "
        "AND seq > :since ORDER BY seq LIMIT :limit")
    assert "owner" not in postgres_feed.page_statement(Plan(arms=3))
    assert "owner" not in postgres_feed.page_statement(Plan(names=True))
    with pytest.raises(ValueError):  # a hidden collection is refused before any read
        reading(["secret"], Readable(frozenset({"secret"})))


@pytest.mark.parametrize("collections", [["notes"], ["notes", "empty", "tags"]])
def test_an_owner_only_filtered_page_reads_index_ranges_on_sqlite(tmp_path: Path,
                                                                 collections: list[str]
                                                                 ) -> None:
    backend = migrated(str(tmp_path / "sync.db"))
    _write(backend)
    reader = Reader(backend)
    ran: list[str] = []
    reader.sqlite.set_trace_callback(ran.append)
    try:
        reader.page(0, 5, collections, 1 << 62, Readable(owned=frozenset({"notes"}),
                                                         sub="bob"))
    finally:
        reader.sqlite.set_trace_callback(None)
    try:
        statements = [s for s in ran if "FROM records" in s]
        assert statements and any("owner" in s for s in statements)
        assert_index_ranges(reader.sqlite, statements)
    finally:
        reader.close()


def test_an_owner_only_filtered_page_reads_index_ranges_on_postgresql(postgres: Backend
                                                                      ) -> None:
    _write(postgres)
    params: dict[str, Any] = {"space": "s1", "since": 0, "limit": 5, "read": 6,
                              "budget": 1 << 62, "c0": "tags", "c1": "notes", "sub": "bob"}
    with psycopg.connect(libpq_url(postgres.db)) as conn:
        cursor = psycopg.ClientCursor(conn)
        for statement in postgres_feed.PIN:
            cursor.execute(statement)
        cursor.execute("EXPLAIN " + postgres_feed.page_statement(Plan(arms=2, owned_arms=1)),
                       params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    scans = [line for line in plan.splitlines() if " on records" in line]
    assert len(scans) == 2 and all(FILTER_INDEX in line for line in scans), plan
    assert "Merge Append" in plan and "Seq Scan" not in plan, plan
