"""Which database errors are storage trouble, and the answer they get.

A full disk, an I/O error, a database still locked when the busy timeout ran out, a
read-only or unreadable file: none of these is the request's fault or a bug, and retrying
later can succeed. They answer `503 storage_unavailable` with Retry-After (never `500
internal_error`, which says "a bug"). Other database errors (a constraint, a missing table)
are bugs and stay 500.
"""

from __future__ import annotations

import sqlite3

from ..errors import ErrorCode, SyncError

RETRY_AFTER_SECONDS = 5

# Primary result codes (https://www.sqlite.org/rescode.html); extended codes such as
# SQLITE_IOERR_FSYNC carry their primary code in the low byte.
_STORAGE_CODES = {
    5,  # SQLITE_BUSY: still locked when busy_timeout ran out
    6,  # SQLITE_LOCKED
    7,  # SQLITE_NOMEM
    8,  # SQLITE_READONLY
    10,  # SQLITE_IOERR
    11,  # SQLITE_CORRUPT
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
    26,  # SQLITE_NOTADB
}


class TransactionLost(sqlite3.OperationalError):
    """SQLite rolled back the write transaction under a write that carried on regardless."""


def is_storage_failure(exc: BaseException) -> bool:
    if isinstance(exc, TransactionLost):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_CODES


def unavailable(exc: BaseException, stored: str) -> SyncError:
    """The request-level error for storage trouble; `stored` says what became of the
    request's writes (the client decides from it whether to send them again)."""
    return SyncError(ErrorCode.STORAGE_UNAVAILABLE,
                     f"the database cannot be used now ({exc}): {stored}; retry later",
                     retry_after=RETRY_AFTER_SECONDS)
