"""`syncserver collections check FILE` (ops/collections_check.py), run as an operator runs it,
against records a real server stored through the push API, on SQLite and on PostgreSQL: the
changes from the file in force, the records a tightened schema no longer accepts, the exit
status, the progress, and a database left exactly as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from syncserver.collections.declared import load_collections
from syncserver.config.setting_kinds import is_postgresql
from syncserver.storage import in_force
from tests.core.cli_support import run_syncserver
from tests.helpers import mutation, push
from tests.server import ServerProcess

IN_FORCE = """
app_version = 1

[collections.todos]
policy = "merge"

[collections.todos.schema]
type = "object"
required = ["title"]
properties.title = { type = "string" }
properties.done = { type = "boolean" }

[collections.notes]
"""

# Tighter: titles of 5 characters at most, `done` required; and other settings changed.
TIGHTENED = """
app_version = 2

[collections.todos]
policy = "lww"
version = 2
upgrade = "tests.collections.upgrades:todos"
update = ["member", "owner"]

[collections.todos.schema]
type = "object"
required = ["title", "done"]
properties.title = { type = "string", maxLength = 5 }
properties.done = { type = "boolean" }

[collections.tags.schema]
type = "object"
"""

VALID = 1100  # records that validate under both files: three pages of the scan


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _stored(db: str) -> tuple[list[tuple[Any, ...]], str | None]:
    """Every row of the records table, and the file in force, read past the server."""
    query = ("SELECT space, collection, id, version, seq, deleted, hlc, updated_at, data, "
             "meta, change FROM records ORDER BY space, collection, id")
    connection: Any = psycopg.connect(db) if is_postgresql(db) else sqlite3.connect(db)
    with connection as conn:
        rows = conn.execute(query).fetchall()
        found = conn.execute(f"SELECT value FROM meta WHERE key = '{in_force.KEY}'").fetchone()
    connection.close()
    return [tuple(row) for row in rows], found[0] if found else None


def _write_records(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        valid = [mutation(n + 1, f"v{n:04}", data={"title": "v", "done": False})
                 for n in range(VALID)]
        for start in range(0, VALID, 500):
            push(http, "c1", valid[start:start + 500])
        push(http, "c2", [
            mutation(1, "long", data={"title": "far too long", "done": True}),
            mutation(2, "nodone", space="s2", data={"title": "a"}),
            mutation(3, "gone", space="s2", data={"title": "far too long"}),
            mutation(4, "n1", collection="notes", data={"anything": [1, 2]}),
        ])
        push(http, "c2", [mutation(5, "gone", op="delete", space="s2", base=1)])


def test_check_lists_the_changes_and_the_records_a_tightened_schema_rejects_changing_nothing(
        any_db: str, tmp_path: Path) -> None:
    in_force_file = _file(tmp_path, "collections.toml", IN_FORCE)
    tightened = _file(tmp_path, "tightened.toml", TIGHTENED)
    server = ServerProcess(any_db, args=("--collections", in_force_file),
                           log=tmp_path / "server.log").start()
    try:
        _write_records(server)
        before = _stored(any_db)
        # What the server stored at start: the file it enforces, canonical.
        assert before[1] == in_force.dumps(in_force.canonical(load_collections(in_force_file)))

        done = run_syncserver(["collections", "check", tightened, "--db", any_db,
                               "--progress-every", "0"])  # beside the running server
        assert done.returncode == 1, done.stdout + done.stderr
        out = done.stdout
        for line in ["  app_version: 1 -> 2",
                     "  - notes (removed: its records stay;",
                     "  + tags (added)",
                     "  todos: schema changed at /properties/title/maxLength, /required",
                     "  todos: policy: merge -> lww",
                     "  todos: version: 1 -> 2",
                     "  todos: upgrade: none -> tests.collections.upgrades:todos",
                     '  todos: update: ["*"] -> ["member", "owner"]',
                     f"records: {VALID + 2:,} scanned",
                     "  todos: 2 records do not validate against this file:",
                     "    s1/long at /title: ",
                     "    s2/nodone at (the root): "]:
            assert line in out, f"{line!r} not in:\n{out}"
        assert "longer than 5" in out and '"done" is a required property' in out
        assert "todos: read" not in out and "gone" not in out  # unchanged; a tombstone
        # Progress on stderr, page by page, out of the total counted first.
        total = f"{VALID + 2:,}"
        for said in [f"scanning {total} records of 2 collections", f"scanned 500 / {total}",
                     f"scanned 1,000 / {total}", f"scanned {total} / {total} records (100%)"]:
            assert said in done.stderr, done.stderr

        as_json = run_syncserver(["collections", "check", tightened, "--db", any_db, "--json"])
        assert as_json.returncode == 1, as_json.stderr
        report = json.loads(as_json.stdout)
        assert report["usable"] and report["in_force_recorded"]
        assert report["invalid_count"] == 2 and report["scanned"] == VALID + 2
        invalid = report["invalid"]["todos"]
        assert invalid["count"] == 2
        assert [(r["space"], r["id"], r["pointer"]) for r in invalid["first"]] == [
            ("s1", "long", "/title"), ("s2", "nodone", "")]
        assert {"collection": "todos", "what": "update", "old": ["*"],
                "new": ["member", "owner"]} in report["changes"]
        assert {"collection": "todos", "what": "schema", "old": None,
                "new": ["/properties/title/maxLength", "/required"]} in report["changes"]

        same = run_syncserver(["collections", "check", in_force_file, "--db", any_db])
        assert same.returncode == 0, same.stdout + same.stderr
        assert "no changes from the file in force" in same.stdout
        assert "every record validates against this file" in same.stdout
    finally:
        server.stop()
    assert _stored(any_db) == before  # nothing written, deleted or migrated


def test_an_unusable_file_exits_2_with_its_problem_and_reads_no_database(
        tmp_path: Path) -> None:
    bad = _file(tmp_path, "bad.toml", "app_version = 1\n[collections.todos]\nversion = 2\n")
    done = run_syncserver(["collections", "check", bad, "--db", str(tmp_path / "none.db")])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "collections.todos.version" in done.stderr and "raise app_version" in done.stderr
    assert not (tmp_path / "none.db").exists()
    as_json = run_syncserver(["collections", "check", bad, "--json"])
    assert as_json.returncode == 2
    report = json.loads(as_json.stdout)
    assert report["usable"] is False and "collections.todos.version" in report["problem"]


def test_a_database_that_cannot_be_read_exits_2_and_is_not_created(tmp_path: Path) -> None:
    good = _file(tmp_path, "good.toml", IN_FORCE)
    done = run_syncserver(["collections", "check", good, "--db", str(tmp_path / "none.db")])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "none.db" in done.stderr and not (tmp_path / "none.db").exists()


def test_a_server_started_without_a_file_leaves_no_file_in_force(tmp_path: Path) -> None:
    db = str(tmp_path / "sync.db")
    declared = _file(tmp_path, "collections.toml", IN_FORCE)
    for args in (("--collections", declared), ()):
        ServerProcess(db, args=args).start().stop()
    assert json.loads(_stored(db)[1] or "null")["declared"] is False  # replaced, not kept
    done = run_syncserver(["collections", "check", declared, "--db", db])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "collections file: none in force (every collection open) -> this one" in done.stdout
    assert "  + notes (added)" in done.stdout and "  + todos (added)" in done.stdout
    assert "undeclared: allow -> reject" in done.stdout


@pytest.mark.parametrize("text, said", [
    ("[collections.todos]\nread = []\n", "collections.todos.read"),
    ("[collections.todos.schema]\ntype = 5\n", "collections.todos.schema"),
])
def test_every_problem_of_the_file_is_exit_2(tmp_path: Path, text: str, said: str) -> None:
    done = run_syncserver(["collections", "check", _file(tmp_path, "c.toml", text)])
    assert done.returncode == 2 and said in done.stderr, done.stderr
