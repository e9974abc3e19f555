"""Running alembic migrations against the server's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .resources import migrations_dir
from .settings import is_postgresql
from .storage.sqlite import sqlite_path


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


def upgrade(db: str) -> None:
    if not is_postgresql(db) and ("://" not in db or db.startswith("sqlite")):
        Path(sqlite_path(db)).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(db), "head")
