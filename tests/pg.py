"""PostgreSQL for tests: a fresh database per test (or module), dropped afterwards.

The server is the one this project's machines run (127.0.0.1:5432, trust auth, user
`postgres`); SYNCSERVER_TEST_PG names another (a libpq URL of its maintenance database).
Where no PostgreSQL answers there, a PostgreSQL case skips with the reason, except when the
environment has CI set: CI must run every backend, so there it fails instead (STYLE.md).
A server that answers but refuses us (authentication, permissions) fails everywhere: that
is a broken setup, not a missing one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "syncserver_test_"  # every database the tests make is named so


def admin_url() -> str:
    return os.environ.get("SYNCSERVER_TEST_PG") or DEFAULT_ADMIN_URL


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def _unreachable(exc: psycopg.OperationalError) -> bool:
    """Nothing answers at the address (refused, no route, timeout), as opposed to a server
    that answered and refused us."""
    text = str(exc).lower()
    return any(s in text for s in ("connection refused", "timeout expired", "no route to host",
                                   "could not translate host name", "network is unreachable",
                                   "no such file or directory", "connection timed out"))


def require_postgres() -> str:
    """The admin URL of a PostgreSQL that answers; skip (fail when CI is set) otherwise."""
    url = admin_url()
    try:
        with _connect(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        if not _unreachable(exc):
            pytest.fail(f"PostgreSQL at {url} answered but refused the tests: {exc}")
        reason = f"no PostgreSQL answers at {url} ({' '.join(str(exc).split())})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the PostgreSQL cases: start PostgreSQL, or "
                        "point SYNCSERVER_TEST_PG at one")
        pytest.skip(reason)
    return url


def database_url(admin: str, name: str) -> str:
    """The URL of database `name` on the server of `admin` (a libpq URL)."""
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    host, port, user = info.get("host", "127.0.0.1"), info.get("port", 5432), info.get("user")
    who = f"{user}@" if user else ""
    if info.get("password"):
        who = f"{user}:{info['password']}@"
    return f"postgresql://{who}{host}:{port}/{name}"


def create_database(admin: str) -> str:
    """A new, empty database with a unique name; its URL. The name says which pytest-xdist
    worker made it (`gw0`, ...; `main` without workers) and its process: unique among
    workers running at once, and a database left behind names its maker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{PREFIX}{worker}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with _connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(admin, name)


def drop_database(admin: str, url: str) -> None:
    """Drop the database of `url`, ending the connections still open to it (a server under
    test that was killed, a pool not closed)."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    assert isinstance(name, str) and name.startswith(PREFIX), name
    with _connect(admin) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@contextmanager
def fresh_database() -> Iterator[str]:
    """A database of its own for the block (skips or fails as require_postgres says)."""
    admin = require_postgres()
    url = create_database(admin)
    try:
        yield url
    finally:
        drop_database(admin, url)


def database_exists(url: str) -> bool:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with _connect(admin_url()) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


# Fixtures (imported by tests/conftest.py)

@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test: its postgresql:// URL, usable as
    `--db` and by psycopg.connect(); dropped after the test."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_url() -> Iterator[str]:
    """A fresh PostgreSQL database shared by the tests of one module."""
    with fresh_database() as url:
        yield url


BACKENDS = ("sqlite", "postgresql")


@contextmanager
def backend_database(backend: str, directory: Path) -> Iterator[str]:
    """`--db` of a fresh database of `backend`: a SQLite file in `directory`, or a
    PostgreSQL database (which skips, or fails in CI, where no PostgreSQL answers)."""
    if backend == "sqlite":
        yield str(directory / "sync.db")
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`--db` of a fresh database, once on each backend."""
    with backend_database(request.param, tmp_path) as url:
        yield url
