"""Guarantee 10 inside the writer's group commit (storage/sqlite/backend.py): every write of a group
is answered as committed exactly when it is. Storage trouble is made real with SQLite's own
`max_page_count` on a real file: past it, a write fails with SQLITE_FULL as on a full disk,
and SQLite rolls back the whole transaction, the writes before it in the group included."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncserver.model.errors import ErrorCode, SyncError
from syncserver.storage.failures import StorageError, StorageUnavailable
from syncserver.storage.sqlite.backend import SQLiteStorage
from syncserver.storage.sqlite.transaction import SQLiteTransaction

Write = Callable[[SQLiteTransaction], Any]
BIG = 200_000  # bytes: far past the page limit the tests set


def _insert(name: str, size: int = 10) -> Write:
    def write(txn: SQLiteTransaction) -> str:
        txn.conn.execute("INSERT INTO notes (name, body) VALUES (?, zeroblob(?))", (name, size))
        return name
    return write


def _limit_pages(txn: SQLiteTransaction) -> None:
    pages = txn.conn.execute("PRAGMA page_count").fetchone()[0]
    txn.conn.execute(f"PRAGMA max_page_count = {pages + 8}")


def _names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {name for (name,) in conn.execute("SELECT name FROM notes")}
    finally:
        conn.close()


async def _group(storage: SQLiteStorage, writes: list[Write]) -> list[Any]:
    """The writes sent together, so that the writer commits them as one group; each one's
    value or exception."""
    return await asyncio.gather(*(storage.write(w) for w in writes), return_exceptions=True)


def _run(path: Path, scenario: Callable[[SQLiteStorage], Any]) -> Any:
    async def main() -> Any:
        storage = SQLiteStorage(str(path))
        await storage.open()
        try:
            await storage.write(lambda txn: txn.conn.execute(
                "CREATE TABLE notes (name TEXT PRIMARY KEY, body BLOB)"))
            return await scenario(storage)
        finally:
            await storage.close()
    return asyncio.run(main())


def _is_storage_unavailable(outcome: object) -> bool:
    return isinstance(outcome, SyncError) and outcome.code == ErrorCode.STORAGE_UNAVAILABLE \
        and outcome.status == 503 and outcome.extra.get("retry_after", 0) > 0


def test_a_write_that_fills_the_disk_fails_its_whole_group_as_storage_unavailable(
        tmp_path: Path) -> None:
    """The write before it in the group was rolled back by SQLite too: it must not be
    answered as committed, and the writer recovers once writes fit again."""
    async def scenario(storage: SQLiteStorage) -> tuple[list[Any], str | None, Any, Any]:
        await storage.write(_limit_pages)
        group = await _group(storage, [_insert("before"), _insert("huge", BIG),
                                       _insert("after")])
        failure = storage.write_failure
        later = await storage.write(_insert("later"))
        return group, failure, later, storage.write_failure

    group, failure, later, failure_after = _run(tmp_path / "db.sqlite", scenario)
    assert all(_is_storage_unavailable(outcome) for outcome in group), group
    assert failure and "full" in failure
    assert later == "later" and failure_after is None
    assert _names(tmp_path / "db.sqlite") == {"later"}


def test_a_write_that_swallows_a_storage_failure_commits_nothing_of_itself(
        tmp_path: Path) -> None:
    """A write that catches the error and carries on would run its next statements outside
    any transaction, each committing on its own: the transaction API refuses them."""
    def stubborn(txn: SQLiteTransaction) -> str:
        txn.conn.execute("INSERT INTO notes (name, body) VALUES ('first', zeroblob(10))")
        try:
            txn.conn.execute("INSERT INTO notes (name, body) VALUES ('huge', zeroblob(?))",
                             (BIG,))
        except sqlite3.Error:
            pass  # as a careless per-item error handler would
        txn.write_row(("s", "c", "r1"), ("s", "c", "r1", 1, 1, False, "h", 0, "{}", None, None))
        return "answered"

    async def scenario(storage: SQLiteStorage) -> list[Any]:
        await storage.write(lambda txn: txn.conn.execute(
            "CREATE TABLE records (space, collection, id, version, seq, deleted, hlc, "
            "updated_at, data, meta, change, PRIMARY KEY (space, collection, id))"))
        await storage.write(_limit_pages)
        return await _group(storage, [_insert("neighbour"), stubborn])

    outcomes = _run(tmp_path / "db.sqlite", scenario)
    assert all(_is_storage_unavailable(outcome) for outcome in outcomes), outcomes
    assert _names(tmp_path / "db.sqlite") == set()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    conn.close()


def test_a_write_that_fails_mid_flush_rolls_back_only_itself(tmp_path: Path) -> None:
    """A bug inside one write (after some of its statements ran) is that write's failure:
    its own statements are undone, its neighbours in the group commit and say so."""
    def half_done(txn: SQLiteTransaction) -> str:
        txn.conn.execute("INSERT INTO notes (name, body) VALUES ('half', zeroblob(10))")
        raise ValueError("a bug after the first statement")

    async def scenario(storage: SQLiteStorage) -> list[Any]:
        return await _group(storage, [_insert("one"), half_done, _insert("two"),
                                      _insert("one")])  # the last: a constraint, its own

    outcomes = _run(tmp_path / "db.sqlite", scenario)
    assert outcomes[0] == "one" and outcomes[2] == "two", outcomes
    assert isinstance(outcomes[1], ValueError)
    assert isinstance(outcomes[3], StorageError)  # not storage trouble: a bug, its own
    assert not isinstance(outcomes[3], StorageUnavailable)
    assert isinstance(outcomes[3].__cause__, sqlite3.IntegrityError)
    assert _names(tmp_path / "db.sqlite") == {"one", "two"}


@pytest.mark.parametrize("code", ["SQLITE_BUSY", "SQLITE_READONLY"])
def test_a_database_another_process_holds_or_that_is_read_only_is_storage_unavailable(
        tmp_path: Path, code: str) -> None:
    """A lock held past the busy timeout, a file that cannot be written: 503, not 500."""
    path = tmp_path / "db.sqlite"

    async def scenario(storage: SQLiteStorage) -> Any:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            if code == "SQLITE_BUSY":
                await storage.write(lambda txn: txn.conn.execute("PRAGMA busy_timeout = 50"))
                other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            else:
                await storage.write(lambda txn: txn.conn.execute("PRAGMA query_only = 1"))
            outcome = (await _group(storage, [_insert("x")]))[0]
            other.rollback() if other.in_transaction else None
            return outcome, storage.write_failure
        finally:
            other.close()

    outcome, failure = _run(path, scenario)
    assert _is_storage_unavailable(outcome), outcome
    assert failure
