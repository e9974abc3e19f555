"""The schema check of a PostgreSQL database, for the commands that do not migrate it
(`serve --no-migrate`, `conflicts`, `new-epoch`, compaction): storage/factory.py.

No file lock: several instances share the database by design, and `serve`/`migrate` migrate
under an advisory lock of their own (migrations/env.py).
"""

from __future__ import annotations

import psycopg

from ...config.setting_kinds import mask_password
from ...config.startup import StartupError
from .backend import conninfo


def check_schema(db: str) -> None:
    """The schema must be at this version's head revision (read-only: nothing changes)."""
    from ..sqlite.startup import _head_revision

    shown = mask_password(db)
    try:
        with psycopg.connect(conninfo(db), connect_timeout=10, autocommit=True) as conn:
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            except psycopg.errors.UndefinedTable:
                row = None
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StartupError(f"cannot connect to --db {shown} ({first}): check that "
                           "PostgreSQL answers there and the database exists") from None
    head = _head_revision(db)
    if row is None or row[0] != head:
        raise StartupError(f"--db {shown} is at schema {row[0] if row else 'none'}, this "
                           f"syncserver needs {head}: run `syncserver migrate --db {shown}` "
                           "(or start the server without --no-migrate)")
