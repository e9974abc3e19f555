"""The alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

import subprocess
import sys

import httpx
import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, String, create_engine, inspect, pool, text
from sqlmodel import SQLModel

from syncserver.model import models  # noqa: F401  (registers the tables)
from syncserver.storage.migrate import alembic_config, database_url
from tests.helpers import mutation, stamped_by
from tests.server import REPO

from .support import read_db

# 55 s for the nine on a 2-core machine (--durations): the inner loop leaves them out
pytestmark = pytest.mark.slow


def _migrate(db: str) -> None:
    done = subprocess.run([sys.executable, "-m", "syncserver", "migrate", "--db", db],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr


def _collations(conn: Connection) -> dict[tuple[str, str], str] | None:
    """Each column's collation where it is not the database's default, as PostgreSQL
    stores it (SQLAlchemy reflects collations itself only from 2.0.45: the lowest-bounds
    run would see none, and the test could not tell a migration that forgot them)."""
    if conn.dialect.name != "postgresql":
        return None
    rows = conn.execute(text(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND collation_name IS NOT NULL"))
    return {(table, column): collation for table, column, collation in rows}


def test_migrated_schema_matches_the_models(any_db):
    """On SQLite and on PostgreSQL: alembic finds no difference, and every column has the
    type the model gives it on that dialect as the database renders it (collations
    included, which alembic does not compare)."""
    _migrate(any_db)
    engine = create_engine(database_url(any_db), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
            current = context.get_current_revision()
            inspector = inspect(conn)
            collations = _collations(conn)
            stored = {}
            for table in inspector.get_table_names():
                for c in inspector.get_columns(table):
                    if collations is not None and isinstance(c["type"], String):
                        c["type"].collation = collations.get((table, c["name"]))
                    stored[(table, c["name"])] = c["type"].compile(dialect=conn.dialect)
            declared = {(table.name, c.name): c.type.compile(dialect=conn.dialect)
                        for table in SQLModel.metadata.sorted_tables for c in table.columns}
    finally:
        engine.dispose()
    assert diff == [], f"migrations and models disagree: {diff}"
    assert {k: v for k, v in stored.items() if k[0] != "alembic_version"} == declared
    head = ScriptDirectory.from_config(alembic_config(any_db)).get_current_head()
    assert current == head
    if any_db.startswith("postgresql"):
        assert declared[("records", "id")] == 'VARCHAR COLLATE "C"'
        assert declared[("mutation_batches", "id")] == "BIGINT"


def _migrate_says(db: str) -> str:
    done = subprocess.run([sys.executable, "-m", "syncserver", "migrate", "--db", db],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_migrate_says_what_it_did_to_the_schema(tmp_path):
    """Created, migrated from one revision to another, or already current: never "up to
    date" for a schema it has just created."""
    from alembic import command

    head = ScriptDirectory.from_config(alembic_config("x.db")).get_current_head()
    db = str(tmp_path / "fresh.db")
    assert _migrate_says(db) == f"{db}: created the schema at revision {head}"
    assert _migrate_says(db) == f"{db}: the schema is up to date (revision {head})"
    command.downgrade(alembic_config(db), "0005")
    assert _migrate_says(db) == f"{db}: migrated the schema from revision 0005 to {head}"


def test_migrate_twice_is_a_no_op(any_db):
    _migrate(any_db)
    # the second time as users may also write it: postgres:// (psycopg 3 all the same)
    _migrate(any_db.replace("postgresql://", "postgres://", 1))


def test_instances_migrating_postgresql_at_once_all_succeed(postgres_url):
    """Several instances start together, each migrating first: the advisory lock of
    migrations/env.py makes them take turns (without it, the later CREATE TABLEs fail)."""
    runs = [subprocess.Popen([sys.executable, "-m", "syncserver", "migrate", "--db",
                              postgres_url], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]
    said = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        said.append(out)
    # One created it; the others, waiting on the lock, found it done.
    assert sum("created the schema at revision" in out for out in said) == 1, said
    assert sum("the schema is up to date" in out for out in said) == 2, said


def test_stored_results_survive_the_mutation_log_migration_both_ways(server_factory, tmp_path):
    """0003 packs the per-mutation result rows into one row per batch: a batch pushed before
    the upgrade, replayed after it, still gets its first answers back (and after a
    downgrade, the per-mutation rows hold the same results)."""
    from alembic import command

    db = tmp_path / "log.db"
    batch = {"client_id": "c-mig", "mutations": stamped_by("c-mig", [
        mutation(1, "a"), mutation(2, "b"), mutation(3, "a", op="patch", base=1,
                                                     data={"done": True}),
        {"mid": 4, "op": "upsert"}])}
    server = server_factory(db=db)
    first = httpx.post(f"{server.url}/v1/push", json=batch, timeout=30).json()["results"]
    server.stop()

    command.downgrade(alembic_config(str(db)), "0002")
    rows = read_db(db, "SELECT mid, result FROM mutations WHERE client_id = 'c-mig' "
                       "ORDER BY mid")
    assert [(mid, orjson.loads(result)) for mid, result in rows] == [
        (r["mid"], r) for r in first]
    command.upgrade(alembic_config(str(db)), "head")

    server = server_factory(db=db)
    replay = httpx.post(f"{server.url}/v1/push", json=batch, timeout=30).json()["results"]
    assert replay == [{**r, "duplicate": True} for r in first]
    assert [r["status"] for r in first] == ["applied", "applied", "applied", "rejected"]


def test_rows_written_before_0004_get_the_same_rendered_change(server_factory, tmp_path):
    """0004 stores each record's change as the feed sends it. Rows written before it are
    filled in by SQL; that text must be byte for byte what the server renders itself
    (records.change_json), tombstones and patched records included."""
    from alembic import command

    db = tmp_path / "change.db"
    batch = {"client_id": "c-chg", "mutations": stamped_by("c-chg", [
        mutation(1, "a"), mutation(2, "b"), mutation(3, "c"),
        mutation(4, "a", op="patch", base=1, data={"done": True}),
        mutation(5, "b", op="delete", base=1)])}
    server = server_factory(db=db)
    assert all(r["status"] == "applied" for r in httpx.post(
        f"{server.url}/v1/push", json=batch, timeout=30).json()["results"])
    feed = httpx.get(f"{server.url}/v1/changes", params={"space": "s1"}, timeout=30).json()
    server.stop()
    rendered = read_db(db, "SELECT id, change FROM records ORDER BY id")
    assert len(rendered) == 3 and all(change for _id, change in rendered)

    command.downgrade(alembic_config(str(db)), "0003")
    command.upgrade(alembic_config(str(db)), "head")
    assert read_db(db, "SELECT id, change FROM records ORDER BY id") == rendered

    server = server_factory(db=db)
    again = httpx.get(f"{server.url}/v1/changes", params={"space": "s1"}, timeout=30).json()
    assert again["changes"] == feed["changes"]
    assert [(c["id"], c["deleted"], c["data"]) for c in feed["changes"]] == [
        ("c", False, {"title": "item c"}), ("a", False, {"title": "item a", "done": True}),
        ("b", True, None)]


def test_batches_stored_whole_before_0005_are_cut_by_block_and_still_replay(server_factory,
                                                                            tmp_path):
    """Before 0005 a batch was one row whatever its mids; the lookup now reads only the
    rows of the blocks a batch's mids fall in, so 0005 cuts the old rows by block. A batch
    stored before, replayed after, still gets its first answers back; a downgrade keeps
    every entry."""
    import sqlite3

    from alembic import command

    from syncserver.storage import mutation_log

    from .support import stored_mutations

    db = tmp_path / "blocks.db"
    mids = [1, 2, 64, 100, 2**40, 2**63 - 1]
    batch = {"client_id": "c-blocks", "mutations": [
        mutation(mid, f"r{mid}") for mid in mids]}
    server = server_factory(db=db)
    first = httpx.post(f"{server.url}/v1/push", json=batch, timeout=30).json()["results"]
    server.stop()
    stored = stored_mutations(db, "c-blocks")
    assert [mid for _c, mid, _r in stored] == mids

    command.downgrade(alembic_config(str(db)), "0004")
    conn = sqlite3.connect(db)  # the batch as the log stored it before 0005: one row
    with conn:
        blobs = [bytes(b) for (b,) in conn.execute(
            "SELECT entries FROM mutation_batches WHERE client_id = 'c-blocks'")]
        entries = sorted(e for blob in blobs for e in mutation_log.decode(blob))
        conn.execute("DELETE FROM mutation_batches WHERE client_id = 'c-blocks'")
        conn.execute("INSERT INTO mutation_batches (client_id, first_mid, last_mid, count, "
                     "created_at, entries) VALUES ('c-blocks', ?, ?, ?, 1, ?)",
                     (mids[0], mids[-1], len(mids), mutation_log.encode(entries)))
    conn.close()
    command.upgrade(alembic_config(str(db)), "head")
    rows = read_db(db, "SELECT first_mid, last_mid FROM mutation_batches "
                       "WHERE client_id = 'c-blocks'")
    assert len(rows) == 4 and all(f // 64 == last // 64 for f, last in rows), rows
    assert stored_mutations(db, "c-blocks") == stored

    server = server_factory(db=db)
    replay = httpx.post(f"{server.url}/v1/push", json=batch, timeout=30).json()["results"]
    server.stop()
    assert replay == [{**r, "duplicate": True} for r in first]
    command.downgrade(alembic_config(str(db)), "0004")
    assert stored_mutations(db, "c-blocks") == stored
