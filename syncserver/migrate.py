"""Running alembic migrations against the server's database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from .storage.sqlite import sqlite_path

ROOT = Path(__file__).resolve().parent.parent


def database_url(db: str) -> str:
    if "://" in db:
        return db
    return "sqlite:///" + db


def alembic_config(db: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = database_url(db)
    return config


def upgrade(db: str) -> None:
    if "://" not in db or db.startswith("sqlite"):
        Path(sqlite_path(db)).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(db), "head")
