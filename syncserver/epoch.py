"""The database epoch: a random id, kept in the meta table, that names one history of the
database. Every cursor carries it, signed (cursor.py). Restoring a backup takes the
database back to seq numbers that clients' cursors have already passed; giving it a new
epoch at the same time makes those cursors answer 410 resync_required instead of silently
skipping the changes written after the restore.

`syncserver restore BACKUP --db PATH` copies a backup into place and gives it a new epoch
in one step; `syncserver new-epoch --db PATH` is for restores done by other means. Both
are meant for a stopped server: a running one keeps the epoch it read at start.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

EPOCH = "epoch"
# The epoch of cursors issued before cursors carried one: the first epoch the database had.
LEGACY_EPOCH = "legacy_epoch"


class EpochError(Exception):
    """An operator's mistake (no such file, not a syncserver database): one line."""


@dataclass(frozen=True)
class Epochs:
    current: str
    legacy: str


def new_id() -> str:
    return secrets.token_hex(6)


def _get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def load_or_create(conn: sqlite3.Connection) -> Epochs:
    """The database's epochs, created on first use (inside the caller's write transaction).
    A database that had no epoch yet may have issued pre-epoch cursors: they belong to the
    epoch it gets now."""
    current = _get(conn, EPOCH)
    if current is None:
        current = new_id()
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                         [(EPOCH, current), (LEGACY_EPOCH, current)])
    return Epochs(current, _get(conn, LEGACY_EPOCH) or "")


def renew(conn: sqlite3.Connection) -> tuple[str, str]:
    """Give the database a new epoch (inside the caller's write transaction); (old, new)."""
    old = load_or_create(conn).current
    new = new_id()
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (new, EPOCH))
    return old, new


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
        old, new = renew(conn)
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
