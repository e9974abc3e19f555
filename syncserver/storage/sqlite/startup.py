"""Start-up checks of a SQLite database file (storage/factory.py calls them): each failure
is one line an operator can act on (what is wrong, with which path, and what to do), raised
before anything is served.

Writers (serve, migrate, compact) take the database's lock, create what is missing and
migrate; readers (conflicts) open an existing database read-only and change nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ...config.settings import Settings
from ...config.startup import DatabaseBusy, StartupError
from ..lockfile import DatabaseInUse, DatabaseLock
from .backend import sqlite_path

if TYPE_CHECKING:  # migrate.py loads alembic: imported where a migration runs
    from ..migrate import Migrated

log = logging.getLogger("syncserver.storage")
DAMAGED = ("restore it from a backup (docs/deployment.md, \"Damaged pages\"); the "
           "file was left as it is")


def _db_path(settings: Settings) -> Path:
    path = Path(sqlite_path(settings.db))
    if path.is_dir():
        raise StartupError(f"--db {path} is a directory: give the path of a database file "
                           "(a new one is created if it does not exist)")
    return path


def lock_database(path: Path, when_busy: str) -> DatabaseLock:
    """Take the database's lock (creating its folder, and the file empty if missing): every
    command that writes holds it, so that no two processes write one SQLite file, whatever
    name they open it by (lockfile.py). `when_busy` says what to do then."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = DatabaseLock(path).acquire()
    except DatabaseInUse as busy:
        raise DatabaseBusy(
            f"{path} is in use by another syncserver (process {busy.holder or 'unknown'}): "
            f"{when_busy}") from None
    except OSError as exc:
        raise StartupError(
            f"cannot create files in {path.parent} for --db {path} ({exc.strerror}): fix "
            "the folder's permissions or choose a writable --db") from None
    try:
        _check_one_name(path)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_one_name(path: Path) -> None:
    """SQLite names the WAL, which holds the last commits until a checkpoint, after the
    name it opens: through a second name (a hard link) those commits are not seen, and
    writing there corrupts the file (https://www.sqlite.org/howtocorrupt.html, 2.5)."""
    names = path.stat().st_nlink
    if names > 1:
        raise StartupError(
            f"--db {path} is one file with {names} names (hard links), and SQLite finds "
            "its last commits (the WAL) by the name it opens: remove the other names (`find "
            f"/ -xdev -samefile {path}`) and keep copies with `sqlite3 {path} .backup` "
            "instead; the file was left as it is")


def prepare_database(settings: Settings, migrate: bool,
                     on_migrated: Callable[[Migrated], None] | None = None) -> DatabaseLock:
    """Lock the database for this process, create it (and its folder) if missing, check
    that it is a SQLite database this process can write, and migrate it when asked.
    The caller holds the returned lock as long as it writes."""
    path = _db_path(settings)
    if not migrate and not path.exists():
        raise StartupError(f"no database at --db {path}, and --no-migrate creates none: run "
                           f"`syncserver migrate --db {path}` first, or drop --no-migrate")
    lock = lock_database(path, "stop it first, or choose another --db; one server per "
                               "SQLite file")
    try:
        _check_writable(path)
        _check_pages(path, settings.sqlite_startup_check)
        if migrate:
            migrated = _migrate(settings.db, path)
            if on_migrated is not None:
                on_migrated(migrated)
        else:
            _check_schema(settings.db, path)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_writable(path: Path) -> None:
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    except sqlite3.Error as exc:
        raise StartupError(f"cannot open --db {path} ({exc}): check the path and its "
                           "permissions") from None
    try:
        conn.execute("PRAGMA schema_version")  # reads the header: NOTADB fails here
        # A write that is rolled back: a read-only file or folder fails here, not on the
        # first push.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE _syncserver_write_probe (x)")
        conn.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        raise StartupError(_explain(path, exc)) from None
    finally:
        conn.close()


def _explain(path: Path, exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return (f"--db {path} is not a SQLite database (or is encrypted or damaged): point "
                "--db at a syncserver database, or at a new path to start one; the file "
                "was left as it is")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
        return (f"--db {path} is read-only for this process (permission denied): make the "
                "file and its folder writable by the server's user, or choose another --db")
    if name.startswith("SQLITE_CORRUPT"):
        return f"--db {path} is damaged ({' '.join(str(exc).split())}): {DAMAGED}"
    if name.startswith("SQLITE_BUSY"):
        return (f"--db {path} is locked by another program: stop it, or choose another "
                "--db")
    return f"--db {path} cannot be used ({' '.join(str(exc).split())}): check the file"


def _check_pages(path: Path, seconds: float) -> None:
    """SQLite's quick_check (every page of every table and index, without comparing an
    index with its table): a damaged file is refused here rather than served with every
    read of its damaged pages failing. It stops after `seconds` (a large file, a cold
    cache: docs/deployment.md has measurements), and the rest is left to the reads, whose
    errors /healthz reports."""
    if seconds <= 0:
        return
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    timer = threading.Timer(seconds, conn.interrupt)
    timer.start()
    try:
        rows = conn.execute("PRAGMA quick_check(3)").fetchall()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_INTERRUPT":
            raise StartupError(_explain(path, exc)) from None
        log.warning("the start-up check of --db %s stopped after %g s (--sqlite-startup-check)"
                    ": the rest of the file is not checked; reads that meet damage answer 503 "
                    "and /healthz reports it", path, seconds)
        return
    finally:
        timer.cancel()
        timer.join()  # an interrupt on its way lands before the close, not after it
        conn.close()
    if rows != [("ok",)]:
        found = " ".join(" ".join(str(row[0]) for row in rows).split())
        raise StartupError(f"--db {path} is damaged (SQLite's quick_check: {found[:300]}): "
                           f"{DAMAGED}")


def _migrate(db: str, path: Path) -> Migrated:
    from ..migrate import upgrade

    try:
        return upgrade(db)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StartupError(f"migrating --db {path} failed ({first}): restore it from a "
                           "backup or report the error") from None


def open_read_only(settings: Settings) -> Path:
    """The path of an existing, up-to-date database, checked without writing anything:
    no file, folder or migration is created by a command that only reads."""
    path = _db_path(settings)
    if not path.exists():
        raise StartupError(f"no database at --db {path}: nothing to read (the server "
                           "creates it on its first start)")
    _check_schema(settings.db, path)
    return path


def _check_schema(db: str, path: Path) -> None:
    """The schema must be the one this version reads (read-only: nothing is migrated)."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StartupError(_explain(path, exc)) from None
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        row = None  # no schema at all: a new, empty file
    except sqlite3.DatabaseError as exc:
        raise StartupError(_explain(path, exc)) from None
    finally:
        conn.close()
    head = _head_revision(db)
    if row is None or row[0] != head:
        raise StartupError(f"--db {path} is at schema {row[0] if row else 'none'}, this "
                           f"syncserver needs {head}: run `syncserver migrate --db {path}` "
                           "(or start the server without --no-migrate)")


def _head_revision(db: str) -> str:
    from alembic.script import ScriptDirectory

    from ..migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    return head or ""
