"""The SQLite writer's drain (storage/sqlite/backend.py): the task that hands queued writes to the
writer thread in groups. Cancelled (the event loop stopping at shutdown), it ends at once,
as cancelled: it does not drain on, and every write it held is cancelled, neither answered
stored nor left waiting for ever. Run on a real SQLite file; the writes are ordinary ones,
the first held on the writer thread until the test lets it go."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from syncserver.config.settings import Settings
from syncserver.storage.factory import prepare
from syncserver.storage.sqlite.backend import SQLiteStorage
from syncserver.storage.sqlite.transaction import SQLiteTransaction


def _drains() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks()
            if getattr(t.get_coro(), "__qualname__", "") == "SQLiteStorage._drain"]


def test_a_cancelled_drain_ends_at_once_and_cancels_the_writes_it_held(tmp_path: Path) -> None:
    db = tmp_path / "drain.db"
    prepare(Settings(db=f"sqlite:///{db}"), migrate=True).release()
    on_writer, release = threading.Event(), threading.Event()

    def held(txn: SQLiteTransaction) -> None:  # the group in flight
        on_writer.set()
        release.wait(30)
        txn.set_meta("held", "1")

    def queued(txn: SQLiteTransaction) -> None:  # the next group, not handed over yet
        txn.set_meta("queued", "1")

    async def scenario() -> None:
        storage = SQLiteStorage(str(db))
        await storage.open()
        try:
            first = asyncio.create_task(storage.write(held))
            assert await asyncio.to_thread(on_writer.wait, 30)
            second = asyncio.create_task(storage.write(queued))
            await asyncio.sleep(0)  # the second write is queued behind the first
            (drain,) = _drains()
            drain.cancel()
            # Ends while the writer thread is still busy: it waits for no group.
            await asyncio.wait([drain], timeout=10)
            assert drain.done(), "the cancelled drain went on draining"
            assert drain.cancelled(), "the drain swallowed its own cancellation"
            await asyncio.wait([first, second], timeout=10)
            assert first.cancelled() and second.cancelled()
        finally:
            release.set()
            await storage.close()
        assert _drains() == []

    asyncio.run(scenario())
    with sqlite3.connect(db) as conn:
        keys = {k for (k,) in conn.execute("SELECT key FROM meta")}
    assert "queued" not in keys, "a write queued behind the cancelled drain still ran"


def test_writes_after_a_cancelled_drain_are_committed(tmp_path: Path) -> None:
    """A drain cancelled before its first step (the loop cancels every task at shutdown)
    still cancels its write, and the storage stays usable: the next write starts a new
    drain."""
    db = tmp_path / "again.db"
    prepare(Settings(db=f"sqlite:///{db}"), migrate=True).release()

    async def scenario() -> None:
        storage = SQLiteStorage(str(db))
        await storage.open()
        try:
            first = asyncio.create_task(storage.write(lambda t: t.set_meta("a", "1")))
            await asyncio.sleep(0)
            (drain,) = _drains()
            drain.cancel()
            await asyncio.wait([first, drain], timeout=10)
            assert drain.cancelled() and first.cancelled()
            await asyncio.wait_for(storage.write(lambda t: t.set_meta("b", "2")), 10)
            assert await asyncio.wait_for(storage.write(lambda t: t.get_meta("b")), 10) == "2"
        finally:
            await storage.close()

    asyncio.run(scenario())
