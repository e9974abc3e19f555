"""One server per SQLite file: a second one is refused at start (its writes would not wake
the first one's long-polls and WebSockets), a lock left by a killed server does not block a
restart, and a migration refuses to run under a server (a compaction runs beside it)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import mutation, pull_all, push
from tests.server import ServerProcess, free_port

from .cli_support import assert_one_line_failure, run_syncserver


def test_a_second_server_on_the_same_file_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    first = ServerProcess(db).start()
    try:
        done = run_syncserver(["serve", "--db", str(db), "--no-demo",
                               "--port", str(free_port())], timeout=20)
        message = assert_one_line_failure(done, str(db), "in use")
        assert first.proc is not None and str(first.proc.pid) in message
        assert httpx.get(first.url + "/healthz").status_code == 200
    finally:
        first.stop()


def test_a_killed_server_does_not_block_its_restart(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    first = ServerProcess(db).start()
    with httpx.Client(base_url=first.url) as c:
        push(c, "c-lock", [mutation(1, "kept", space="lock")])
    first.kill()
    second = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=second.url) as c:
            state, _ = pull_all(c, "lock")
        assert ("todos", "kept") in state
    finally:
        second.stop()


def test_migrate_is_refused_under_a_running_server_and_compact_runs_beside_it(
        tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    server = ServerProcess(db).start()
    try:
        message = assert_one_line_failure(run_syncserver(["migrate", "--db", str(db)]),
                                          str(db), "in use")
        assert "stop" in message
        with httpx.Client(base_url=server.url) as c:
            push(c, "c-compact", [mutation(1, "gone", space="cmp")])
            push(c, "c-compact", [mutation(2, "gone", op="delete", base=1, space="cmp")])
            done = run_syncserver(["compact", "--db", str(db), "--older-than", "0s"])
            assert done.returncode == 0, done.stderr
            assert "purged 1 tombstones" in done.stdout
            done = run_syncserver(["conflicts", "--db", str(db)])  # reading is fine too
            assert done.returncode == 0, done.stderr
            assert c.get("/healthz").status_code == 200
    finally:
        server.stop()
    done = run_syncserver(["migrate", "--db", str(db)])
    assert done.returncode == 0, done.stderr
