"""The WAL is copied into the database file off the writer's thread (storage/checkpoint.py),
and stays bounded however steadily the writer writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from syncserver.storage.checkpoint import STALE_COMMITS
from syncserver.storage.sqlite.backend import SQLiteStorage

PAGE = 4096
RESTART_FRAMES = 100
ROWS_PER_WRITE = 20  # of about one page each
WRITES = 800  # about 65 MB in all: a WAL that is never restarted grows to half of it or more
CONCURRENT = 10  # writes in flight: a group commit of up to 200 frames
GROUP_BYTES = CONCURRENT * ROWS_PER_WRITE * (PAGE + 24)  # a WAL frame: a page and its header
# The writer checkpoints after STALE_COMMITS groups at the latest, waiting for a pass of
# the checkpointer's in progress, and its next group restarts the WAL: however the threads
# are scheduled, the WAL never holds more than that many groups and the one that restarts
# it (and a group's worth for the b-tree's interior pages).
WAL_BOUND = (STALE_COMMITS + 2) * GROUP_BYTES


def _insert(txn) -> None:  # type: ignore[no-untyped-def]
    txn.conn.executemany("INSERT INTO blobs (body) VALUES (?)",
                         [(os.urandom(PAGE - 200),) for _ in range(ROWS_PER_WRITE)])


async def _write_steadily(storage: SQLiteStorage, wal: Path) -> int:
    """Keep the writer busy with no pause between groups; return the longest WAL seen."""
    await storage.write(lambda txn: txn.conn.execute(
        "CREATE TABLE blobs (n INTEGER PRIMARY KEY, body BLOB)"))
    longest = 0
    for _ in range(WRITES // CONCURRENT):
        await asyncio.gather(*(storage.write(_insert) for _ in range(CONCURRENT)))
        longest = max(longest, wal.stat().st_size)
    return longest


def _run(storage: SQLiteStorage, wal: Path) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        await storage.open()
        try:
            longest = await _write_steadily(storage, wal)
            database_size = os.path.getsize(storage.path)  # what checkpoints copied so far
        finally:
            await storage.close()
        return longest, database_size

    return asyncio.run(main())


def _count(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])
    finally:
        conn.close()


def test_the_wal_stays_bounded_and_is_copied_while_the_writer_never_pauses(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "db.sqlite"))
    storage.checkpoint_restart_frames = RESTART_FRAMES
    longest, database_size = _run(storage, tmp_path / "db.sqlite-wal")
    written = WRITES * ROWS_PER_WRITE * PAGE
    # A WAL never restarted grew to 34 MB; one the writer's checkpoints could not restart
    # while a starved checkpointer's pass ran grew to 20 MB on a loaded machine.
    assert longest <= WAL_BOUND, f"the WAL grew to {longest} bytes of {written} written"
    assert database_size > written - WAL_BOUND, "checkpoints did not copy the WAL while running"
    assert _count(storage.path) == WRITES * ROWS_PER_WRITE


def test_the_writer_checkpoints_itself_when_the_checkpointer_cannot_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    storage = SQLiteStorage(str(tmp_path / "db.sqlite"))
    storage.checkpoint_restart_frames = RESTART_FRAMES

    def no_connection() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    storage._checkpoint_connection = no_connection  # type: ignore[method-assign]
    longest, database_size = _run(storage, tmp_path / "db.sqlite-wal")
    written = WRITES * ROWS_PER_WRITE * PAGE
    assert longest <= WAL_BOUND, f"the WAL grew to {longest} bytes of {written} written"
    assert database_size > written - WAL_BOUND
    assert _count(storage.path) == WRITES * ROWS_PER_WRITE
    assert "checkpointer stopped" in caplog.text
