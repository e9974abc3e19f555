"""`syncserver restore` and `syncserver new-epoch` on a SQLite file (epoch.py says why):
the file work (checks, SQLite's backup API) around epoch.renew."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..epoch import EpochError, renew
from .transaction import SQLiteTransaction


def _open_database(path: Path, read_only: bool = False) -> sqlite3.Connection:
    if not path.is_file():
        raise EpochError(f"{path}: no such database file")
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    try:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise EpochError(f"{path}: not a SQLite database ({exc})") from None
    if not has_meta:
        conn.close()
        raise EpochError(f"{path}: not a syncserver database (no meta table)")
    return conn


def _renew_in(conn: sqlite3.Connection) -> tuple[str, str]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        old, new = renew(SQLiteTransaction(conn))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return old, new


def new_epoch(db: Path) -> tuple[str, str]:
    """`syncserver new-epoch`: a new epoch for a database restored by other means."""
    conn = _open_database(db)
    try:
        return _renew_in(conn)
    finally:
        conn.close()


def restore(backup: Path, db: Path) -> tuple[str, str]:
    """`syncserver restore`: put `backup` in place of `db` with a new epoch.

    The backup is checked, copied to a scratch file next to `db` and given its new epoch
    there; then SQLite's backup API writes the scratch file into `db` in one transaction
    (which also takes care of `db`'s WAL). A failure at any step leaves `db` as it was."""
    source = _open_database(backup, read_only=True)
    scratch = db.with_name(db.name + ".restoring")
    scratch.unlink(missing_ok=True)
    try:
        check = source.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise EpochError(f"{backup}: the backup fails SQLite's quick_check: {check}")
        copy = sqlite3.connect(scratch, isolation_level=None)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # a single file to copy from
            epochs = _renew_in(copy)
        finally:
            copy.close()
        db.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(scratch, isolation_level=None)
        target = sqlite3.connect(db, isolation_level=None)
        try:
            target.execute("PRAGMA busy_timeout = 10000")
            copy.backup(target)
        finally:
            target.close()
            copy.close()
        return epochs
    finally:
        source.close()
        scratch.unlink(missing_ok=True)
