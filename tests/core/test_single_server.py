"""One server per SQLite file: a second one is refused at start (its writes would not wake
the first one's long-polls and WebSockets), a lock left by a killed server does not block a
restart, and a migration refuses to run under a server (a compaction runs beside it)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import mutation, pull_all, push
from tests.server import ServerProcess, free_port

from .cli_support import assert_one_line_failure, run_syncserver

# 36 s for the five on a 2-core machine (--durations): the inner loop leaves them out
pytestmark = pytest.mark.slow


def test_a_second_server_on_the_same_file_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    first = ServerProcess(db).start()
    try:
        done = run_syncserver(["serve", "--db", str(db), "--no-demo",
                               "--port", str(free_port())])
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


def test_a_second_server_through_a_symlink_is_refused_and_a_kill_frees_the_file(
        tmp_path: Path) -> None:
    """The lock is the file's, not its name's: a symlink names the same file."""
    db = tmp_path / "sync.db"
    link = tmp_path / "other-name.db"
    link.symlink_to(db.name)
    first = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=first.url) as c:
            push(c, "c-link", [mutation(1, "kept", space="link")])
        done = run_syncserver(["serve", "--db", str(link), "--no-demo",
                               "--port", str(free_port())])
        message = assert_one_line_failure(done, str(link), "in use", "stop it first")
        assert first.proc is not None and str(first.proc.pid) in message
        assert httpx.get(first.url + "/healthz").status_code == 200
    finally:
        first.kill()
    second = ServerProcess(link).start()  # the kernel released the lock with the process
    try:
        with httpx.Client(base_url=second.url) as c:
            state, _ = pull_all(c, "link")  # its WAL found through the link too
        assert ("todos", "kept") in state
    finally:
        second.stop()


def test_a_second_server_through_a_hard_link_is_refused_and_two_names_are_refused(
        tmp_path: Path) -> None:
    """A hard link is the same file under a second name: a second server there is refused
    while the first runs. After a crash, neither name serves while both exist: SQLite names
    the WAL (which holds the last commits) after the name it opens, so a restart through
    the other name would not see them."""
    db = tmp_path / "sync.db"
    first = ServerProcess(db).start()
    hard = tmp_path / "hard.db"
    try:
        with httpx.Client(base_url=first.url) as c:
            push(c, "c-hard", [mutation(1, "kept", space="hard")])
        hard.hardlink_to(db)
        done = run_syncserver(["serve", "--db", str(hard), "--no-demo",
                               "--port", str(free_port())])
        message = assert_one_line_failure(done, str(hard), "in use", "stop it first")
        assert first.proc is not None and str(first.proc.pid) in message
        first.kill()
        for name in (hard, db):
            done = run_syncserver(["serve", "--db", str(name), "--no-demo",
                                   "--port", str(free_port())])
            assert_one_line_failure(done, str(name), "2 names", "remove")
    finally:
        first.kill()
    hard.unlink()
    second = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=second.url) as c:
            state, _ = pull_all(c, "hard")
        assert ("todos", "kept") in state
    finally:
        second.stop()
