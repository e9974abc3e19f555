"""Careless operators: a server that cannot start says why in one actionable line, with no
traceback, before it prints that it is serving."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from tests.server import free_port

from .cli_support import assert_one_line_failure, run_syncserver


def _serve(db: str, *args: str, unprivileged: bool = False):  # type: ignore[no-untyped-def]
    port = [] if "--port" in args else ["--port", str(free_port())]
    return run_syncserver(["serve", "--db", db, "--no-demo", *port, *args],
                          unprivileged=unprivileged)


def test_a_db_that_is_a_directory_stops_the_server_with_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    message = assert_one_line_failure(_serve(str(folder)), str(folder), "--db")
    assert "directory" in message
    assert list(folder.iterdir()) == []


def test_a_db_that_is_not_a_database_stops_the_server_and_is_left_alone(
        tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: milk, eggs, bread, " * 200)
    before = notes.read_bytes()
    message = assert_one_line_failure(_serve(str(notes)), str(notes), "--db")
    assert "not a SQLite database" in message
    assert notes.read_bytes() == before


def test_a_db_in_a_folder_the_server_cannot_write_stops_it_with_the_path(
        tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    db = folder / "sync.db"
    try:
        message = assert_one_line_failure(_serve(str(db), unprivileged=True), str(folder))
    finally:
        folder.chmod(0o755)
    assert "permission" in message.lower() and "--db" in message
    assert not db.exists()


def test_an_unwritable_db_file_stops_the_server_with_the_path(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    assert run_syncserver(["migrate", "--db", str(db)]).returncode == 0
    db.chmod(0o444)
    message = assert_one_line_failure(_serve(str(db), unprivileged=True), str(db))
    assert "permission" in message.lower() or "read-only" in message.lower()


def test_an_unsupported_database_url_says_what_is_supported(tmp_path: Path) -> None:
    done = _serve("mysql://localhost/sync")
    message = assert_one_line_failure(done, "--db", "SYNCSERVER_DB", "sqlite", status=2)
    assert "postgresql" in message.lower()


def test_a_postgresql_database_that_does_not_answer_stops_the_server_in_one_line() -> None:
    done = _serve(f"postgresql://sync:hunter22@127.0.0.1:{free_port()}/sync")
    message = assert_one_line_failure(done, "--db", "postgresql://sync:***@127.0.0.1",
                                      status=1)
    assert "hunter22" not in message


def test_a_port_in_use_stops_the_server_and_names_the_port_flag(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(str(tmp_path / "sync.db"), "--port", str(port))
    assert_one_line_failure(done, "--port", str(port), "in use")


def test_no_migrate_on_a_database_without_the_schema_stops_the_server(tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    message = assert_one_line_failure(_serve(str(db), "--no-migrate"), str(db), "migrate")
    assert not db.exists()
    sqlite3.connect(db).close()  # an empty SQLite file: no schema yet
    message = assert_one_line_failure(_serve(str(db), "--no-migrate"), str(db),
                                      "syncserver migrate")
    assert "schema" in message


def test_a_host_that_is_not_an_address_of_this_machine_names_the_host_flag(
        tmp_path: Path) -> None:
    db = tmp_path / "sync.db"
    message = assert_one_line_failure(_serve(str(db), "--host", "192.0.2.55"), "--host")
    assert "192.0.2.55" in message
