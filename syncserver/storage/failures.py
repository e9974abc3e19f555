"""What a backend raises for its database's errors: one family, whatever the backend.

Each backend translates its driver's errors into it where they leave the backend: its
transactions' methods, its reads and its writes (sqlite/failures.py, postgres/failures.py
decide which is which). The core and the transports thus catch `StorageError` and never
a driver's exception, nor need to know which driver there is. The driver's error is the
`__cause__`, for the log.

- `StorageUnavailable`: storage trouble. A full disk, an I/O error, a database still
  locked when the busy timeout ran out, a lost connection, a damaged page: none of these
  is the request's fault or a bug, and retrying later can succeed. A write or read meeting
  one answers `503 storage_unavailable` with Retry-After (`unavailable`), never `500
  internal_error`, which says "a bug".
- any other `StorageError`: the database refused what it was asked (a constraint, a
  missing table): a bug, 500.

Either way the transaction it happened in cannot go on: its write fails whole.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from ..model.errors import ErrorCode, SyncError

RETRY_AFTER_SECONDS = 5
log = logging.getLogger("syncserver.storage")


class StorageError(Exception):
    """`what`: the failure in words a client may see, never the driver's own text (it can
    name files, hosts and statements: docs/security.md, "Nothing leaks"); `kind`: the same
    for machines (/healthz's `error.kind`, docs/protocol.md)."""

    def __init__(self, what: str = "a database error", kind: str = "error") -> None:
        super().__init__(what)
        self.what = what
        self.kind = kind

    @property
    def reason(self) -> str:
        """The driver's own text, for the log only."""
        return str(self.__cause__ if self.__cause__ is not None else self)


class StorageUnavailable(StorageError):
    """Storage trouble: retrying later can succeed."""


class Trouble(NamedTuple):
    """How a backend names a driver's error that is storage trouble."""

    kind: str  # for machines: StorageError.kind
    what: str  # words a client may see: StorageError.what

    def error(self) -> StorageUnavailable:
        return StorageUnavailable(self.what, self.kind)


class TransactionLost(StorageUnavailable):
    """The database rolled back the write transaction under a write that carried on."""

    def __init__(self, what: str = "the write transaction was rolled back by the database"
                 ) -> None:
        super().__init__(what, "rolled_back")


def unavailable(exc: StorageError, stored: str) -> SyncError:
    """The request-level error for storage trouble; `stored` says what became of the
    request's writes (the client decides from it whether to send them again)."""
    log.warning("storage unavailable: %s (%s)", exc.reason, stored)
    return SyncError(ErrorCode.STORAGE_UNAVAILABLE,
                     f"the database cannot be used now ({exc.what}): {stored}; retry later",
                     retry_after=RETRY_AFTER_SECONDS)
