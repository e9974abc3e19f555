"""A SQLite file with damaged pages: refused at start (SQLite's quick_check), and damage met
at run time is reported by /healthz (503 with a machine-readable body) until the read that
met it succeeds again. Real files, damaged on purpose: bytes of a table's pages, never the
file header."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.helpers import assert_problem, mutation, push, wait_for
from tests.server import ServerProcess, free_port

from .cli_support import assert_one_line_failure, run_syncserver

SPACE = "dmg"


def _fill(db: Path) -> None:
    """A database whose records table spans many pages (its root page is an interior one,
    on every read's way), then stopped and checkpointed: every page is in the file."""
    server = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for first in range(1, 201, 50):
                push(c, "c-dmg", [mutation(mid, f"r{mid}", space=SPACE,
                                           data={"title": "x" * 500})
                                  for mid in range(first, first + 50)])
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _records_root(db: Path) -> tuple[int, int]:
    """(offset, size) of the records table's root page in the file."""
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'records'"
                            ).fetchone()[0]
    assert root > 1  # never page 1, which holds the file header
    return (root - 1) * page_size, page_size


def _overwrite(db: Path, offset: int, data: bytes) -> bytes:
    """Write `data` at `offset` (through its own descriptor, as a failing disk would leave
    it); the bytes it replaced."""
    with open(db, "r+b") as f:
        f.seek(offset)
        before = f.read(len(data))
        f.seek(offset)
        f.write(data)
    return before


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_a_database_with_damaged_pages_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    _fill(db)
    offset, size = _records_root(db)
    _overwrite(db, offset, b"\xee" * 16)  # the b-tree page header: its type and cells
    _overwrite(db, offset + size // 2, b"\xee" * 64)
    damaged = db.read_bytes()
    done = run_syncserver(["serve", "--db", str(db), "--no-demo", "--port", str(free_port())],
                          timeout=20)
    assert_one_line_failure(done, str(db), "damaged", "restore it from a backup",
                            "docs/deployment.md")
    assert db.read_bytes() == damaged  # left as it is, for whoever repairs it
    # `0` turns the check off: an operator who must serve what can be served.
    server = ServerProcess(db, args=["--sqlite-startup-check", "0"]).start()
    server.stop()


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_damage_met_at_run_time_is_reported_by_healthz_until_reads_succeed(
        tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    _fill(db)
    server = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/healthz").status_code == 200
            offset, _size = _records_root(db)
            original = _overwrite(db, offset, b"\xee" * 16)  # while the server runs

            read = c.get("/v1/changes", params={"space": SPACE})
            assert_problem(read, 503, "storage_unavailable")
            assert "damaged" in read.json()["detail"]

            health = c.get("/healthz")
            assert health.status_code == 503, health.text
            assert int(health.headers["retry-after"]) > 0
            body = health.json()
            assert body["status"] == "unavailable"
            error = body["error"]
            assert error["operation"] == "read" and error["kind"] == "damaged", body
            assert error["count"] >= 1 and error["last_at"] >= error["first_at"] > 0
            assert str(db) not in health.text  # no path, no SQLite text: that is the log's
            assert c.get("/healthz").status_code == 503  # it lasts: the read still fails

            _overwrite(db, offset, original)  # repaired (as a restore would)
            push(c, "c-other", [mutation(1, "fine", space="other")])  # the server writes on
            wait_for(lambda: c.get("/healthz").status_code == 200, timeout=10)
            assert c.get("/v1/changes", params={"space": SPACE}).status_code == 200
    finally:
        server.stop()
