"""The backend fixture of the shared storage suite: each case runs once on SQLite (a fresh
file) and once on PostgreSQL (a fresh database, dropped afterwards; skipped with the reason
where no PostgreSQL answers, failed instead when CI is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from syncserver import migrate
from tests.storage.support import Backend

ADMIN = os.environ.get("SYNCSERVER_TEST_PG") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"no PostgreSQL answers at {ADMIN} ({' '.join(str(exc).split())})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the PostgreSQL cases")
        pytest.skip(reason)
    name = f"syncserver_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _pg_schema(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    from syncserver import models  # noqa: F401 - declares the tables

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    SQLModel.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        db = str(tmp_path / "sync.db")
        migrate.upgrade(db)
        yield Backend("sqlite", db)
        return
    for url in _pg_database():
        _pg_schema(url)
        yield Backend("postgresql", url)


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """PostgreSQL only: the concurrency cases (SQLite's one writer makes them trivial)."""
    for url in _pg_database():
        _pg_schema(url)
        yield Backend("postgresql", url)
