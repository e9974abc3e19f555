"""Which SQLite errors are storage trouble (storage/failures.py): by their primary result
code (https://www.sqlite.org/rescode.html); extended codes such as SQLITE_IOERR_FSYNC
carry their primary code in the low byte."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ..failures import StorageError, Trouble

P = ParamSpec("P")
T = TypeVar("T")

# primary result code: the trouble it is (any other code is a bug, 500)
_TROUBLE = {
    5: Trouble("busy", "the database is busy"),  # SQLITE_BUSY: locked past busy_timeout
    6: Trouble("busy", "the database is busy"),  # SQLITE_LOCKED
    7: Trouble("out_of_memory", "the server is out of memory"),  # SQLITE_NOMEM
    8: Trouble("read_only", "the database is read-only"),  # SQLITE_READONLY
    10: Trouble("io_error", "an I/O error"),  # SQLITE_IOERR
    11: Trouble("damaged", "the database file is damaged"),  # SQLITE_CORRUPT
    13: Trouble("disk_full", "the disk is full"),  # SQLITE_FULL
    14: Trouble("cannot_open", "the database file cannot be opened"),  # SQLITE_CANTOPEN
    15: Trouble("busy", "the database is busy"),  # SQLITE_PROTOCOL
    26: Trouble("not_a_database", "the database file is not a database"),  # SQLITE_NOTADB
}


def translate(exc: sqlite3.Error) -> StorageError:
    """`exc` as the storage family, with `exc` as its cause."""
    code = getattr(exc, "sqlite_errorcode", None)
    trouble = _TROUBLE.get(code & 0xFF) if code is not None else None
    error = trouble.error() if trouble is not None else StorageError()
    error.__cause__ = exc
    return error


def storage_errors(method: Callable[P, T]) -> Callable[P, T]:
    """`method`, raising SQLite's errors as the storage family: on the methods of the
    transaction the core calls (one frame more per call, none per statement)."""
    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise translate(exc) from exc
    return run
