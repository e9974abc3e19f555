"""The backend fixtures of the shared storage suite: `backend` runs a case once on SQLite (a
fresh file) and once on PostgreSQL (a fresh database, dropped afterwards; tests/pg.py skips
it with the reason where no PostgreSQL answers, and fails it instead when CI is set);
`postgres` is PostgreSQL only. Both schemas are made by the migrations, as `serve` does."""

from __future__ import annotations

import pytest

from syncserver.config.settings import Settings
from syncserver.storage.factory import is_postgresql, prepare
from tests.storage.support import Backend


def migrated(db: str) -> Backend:
    prepare(Settings(db=db), migrate=True).release()
    return Backend("postgresql" if is_postgresql(db) else "sqlite", db)


@pytest.fixture
def backend(any_db: str) -> Backend:
    return migrated(any_db)


@pytest.fixture
def postgres(postgres_url: str) -> Backend:
    """PostgreSQL only: the concurrency cases (SQLite's one writer makes them trivial)."""
    return migrated(postgres_url)
