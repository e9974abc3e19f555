"""Which database errors are storage trouble, and the answer they get.

A full disk, an I/O error, a database still locked when the busy timeout ran out, a
read-only or unreadable file: none of these is the request's fault or a bug, and retrying
later can succeed. They answer `503 storage_unavailable` with Retry-After (never `500
internal_error`, which says "a bug"). Other database errors (a constraint, a missing table)
are bugs and stay 500.
"""

from __future__ import annotations

import logging
import sqlite3

from ..model.errors import ErrorCode, SyncError

RETRY_AFTER_SECONDS = 5
log = logging.getLogger("syncserver.storage")

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


# The kind of failure, in words a client may see: never SQLite's own text, which can name
# files and statements (docs/security.md, "Nothing leaks"); the log has the full error.
_KINDS = {
    5: "the database is busy",
    6: "the database is busy",
    7: "the server is out of memory",
    8: "the database is read-only",
    10: "an I/O error",
    11: "the database file is damaged",
    13: "the disk is full",
    14: "the database file cannot be opened",
    15: "the database is busy",
    26: "the database file is not a database",
}


# The same, for machines (/healthz's `error.kind`, docs/protocol.md).
_CODES = {5: "busy", 6: "busy", 7: "out_of_memory", 8: "read_only", 10: "io_error",
          11: "damaged", 13: "disk_full", 14: "cannot_open", 15: "busy", 26: "not_a_database"}


def kind(exc: BaseException) -> str:
    if isinstance(exc, TransactionLost):
        return "rolled_back"
    code = getattr(exc, "sqlite_errorcode", None)
    return _CODES.get(code & 0xFF, "error") if code is not None else "error"


def _what(exc: BaseException) -> str:
    if isinstance(exc, TransactionLost):
        return "the write transaction was rolled back by the database"
    code = getattr(exc, "sqlite_errorcode", None)
    return _KINDS.get(code & 0xFF, "a storage failure") if code is not None else \
        "a storage failure"


def unavailable(exc: BaseException, stored: str) -> SyncError:
    """The request-level error for storage trouble; `stored` says what became of the
    request's writes (the client decides from it whether to send them again)."""
    log.warning("storage unavailable: %s (%s)", exc, stored)
    return SyncError(ErrorCode.STORAGE_UNAVAILABLE,
                     f"the database cannot be used now ({_what(exc)}): {stored}; retry later",
                     retry_after=RETRY_AFTER_SECONDS)
