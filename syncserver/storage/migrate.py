"""Running alembic migrations against the server's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from alembic import command
from alembic.config import Config

from ..config.resources import migrations_dir
from ..config.setting_kinds import is_postgresql
from .sqlite.backend import sqlite_path


def database_url(db: str) -> str:
    """The SQLAlchemy URL of --db: a file path is SQLite; postgresql:// (which SQLAlchemy
    would give to psycopg2) is psycopg 3's postgresql+psycopg://."""
    if is_postgresql(db):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if "://" in db:
        return db
    return "sqlite:///" + db


def libpq_url(db: str) -> str:
    """--db as psycopg.connect() and asyncpg take it (`postgresql://...`)."""
    assert is_postgresql(db), db
    return "postgresql://" + db.split("://", 1)[1]


def alembic_config(db: str) -> Config:
    # No alembic.ini: it stays in the repository for developers' `alembic revision`; the
    # server needs only the scripts, which an installed wheel carries (resources.py).
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["url"] = database_url(db)
    return config


class Migrated(NamedTuple):
    """What an upgrade did: the schema's revision before (None: there was no schema) and
    after it."""

    before: str | None
    after: str | None

    def describe(self, db: str) -> str:
        """One line for the operator; `db` as it may be shown (its password masked)."""
        if self.before == self.after:
            return f"{db}: the schema is up to date (revision {self.after})"
        if self.before is None:
            return f"{db}: created the schema at revision {self.after}"
        return f"{db}: migrated the schema from revision {self.before} to {self.after}"


def upgrade(db: str) -> Migrated:
    if not is_postgresql(db) and ("://" not in db or db.startswith("sqlite")):
        Path(sqlite_path(db)).parent.mkdir(parents=True, exist_ok=True)
    config = alembic_config(db)
    command.upgrade(config, "head")
    # Read by migrations/env.py under the migration lock, so an instance that waited for
    # another's migration reports what it found, not what the other did.
    before, after = config.attributes["revisions"]
    return Migrated(before, after)
