"""The backend a `--db` value names, and what a command does to its database first.

A file path or a `sqlite:///` URL is SQLite: the commands that write lock the file, and
create, check and migrate the file (sqlite/startup.py). `postgresql://` is PostgreSQL, shared
by any number of instances (storage/postgres*.py): migrated under an advisory lock
(migrations/env.py), no file lock, its schema checked without writing by the commands that
do not migrate (postgres/startup.py). The core only sees the `Storage` these return
(storage/base.py).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from ..config.setting_kinds import is_postgresql, mask_password
from ..config.settings import Settings
from ..config.startup import StartupError
from .base import Storage

if TYPE_CHECKING:  # imported when used: SQLite-only installs have no psycopg
    from .migrate import Migrated  # (and alembic is loaded only where a migration runs)
    from .postgres.backend import PostgresStorage  # noqa: F401 - mypy checks it against Storage here


class Prepared(Protocol):
    """What a writing command holds while it writes (SQLite: the lock on the database file)."""

    def release(self) -> None:
        ...


class _Shared:
    """PostgreSQL: nothing held (instances share the database)."""

    def release(self) -> None:
        pass


def open_storage(settings: Settings, read_only: bool = False) -> Storage:
    """The backend of `settings.db`, not yet opened (Storage.open connects). `read_only`:
    for a command that only reads (after check_read_only); it opens no writer."""
    if is_postgresql(settings.db):
        from .postgres.backend import PostgresStorage

        return PostgresStorage(settings.db, settings.postgres_pool_size)
    from .sqlite.backend import SQLiteStorage, sqlite_path

    return SQLiteStorage(sqlite_path(settings.db), settings.sqlite_synchronous, read_only)


def prepare(settings: Settings, migrate: bool,
            on_migrated: Callable[[Migrated], None] | None = None) -> Prepared:
    """Before a command writes (serve, migrate, compact): the database exists, this process
    may write it, its schema is current (migrated if `migrate`; `on_migrated` then hears
    what the migration did). Raises StartupError (one line) or DatabaseBusy (another
    server holds a SQLite file)."""
    if is_postgresql(settings.db):
        if migrate:
            migrated = _migrate_postgresql(settings.db)
            if on_migrated is not None:
                on_migrated(migrated)
        else:
            _check_postgresql(settings.db)
        return _Shared()
    from .sqlite.startup import prepare_database

    return prepare_database(settings, migrate, on_migrated)


def check_read_only(settings: Settings) -> None:
    """Before a command that only reads (conflicts, compact beside a running server): the
    database exists and its schema is current; nothing is created or migrated."""
    if is_postgresql(settings.db):
        _check_postgresql(settings.db)
        return
    from .sqlite.startup import open_read_only

    open_read_only(settings)


def _check_postgresql(db: str) -> None:
    if importlib.util.find_spec("psycopg") is None:
        raise StartupError(f"--db {mask_password(db)} is PostgreSQL, which needs psycopg 3: "
                           "pip install '.[postgresql]' in a checkout of syncserver")
    from .postgres.startup import check_schema

    check_schema(db)


def _migrate_postgresql(db: str) -> Migrated:
    """`syncserver migrate --db postgresql://...`: no file lock (instances share the
    database; the migrations take an advisory lock of their own, migrations/env.py)."""
    from .migrate import upgrade

    if importlib.util.find_spec("psycopg") is None:
        raise StartupError(f"--db {mask_password(db)} is PostgreSQL, which needs psycopg 3: "
                           "pip install '.[postgresql]' in a checkout of syncserver")
    try:
        return upgrade(db)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        first = lines[0] if lines else type(exc).__name__
        raise StartupError(f"migrating --db {mask_password(db)} failed ({first}): check that "
                           "PostgreSQL answers there and the database exists (createdb), "
                           "or report the error") from None
