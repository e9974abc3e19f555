"""What /healthz says of the storage: the storage errors reads and writes meet at run time,
the same way for every backend.

A backend tells its `HealthRecord` of each storage failure (a full disk, an I/O error, a
damaged page, a lost connection: sqlite/failures.py and postgres/failures.py decide what
is one) and of the successes that end it. /healthz answers 503 with the failure while it
lasts:

- a write failure lasts until a write commits: /healthz tries a small one (a probe);
- a read failure lasts until that same read succeeds: /healthz runs it again. Reads of
  other pages succeeding say nothing of a damaged one, so they do not end it.

While all is well this costs one comparison per read and write, and /healthz one small
read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("syncserver.storage")

Rerun = Callable[[], Awaitable[Any]]


@dataclass
class StorageFailure:
    operation: str  # "read" or "write"
    kind: str  # machine-readable: disk_full, io_error, damaged, ... (docs/protocol.md)
    first_at: int  # ms since the epoch: the first failure of this run of failures
    last_at: int  # the latest one
    count: int
    reason: str  # the driver's own text: for the log only (it names files and hosts)

    def body(self) -> dict[str, Any]:
        return {"operation": self.operation, "kind": self.kind, "first_at": self.first_at,
                "last_at": self.last_at, "count": self.count}


def _now_ms() -> int:
    return int(time.time() * 1000)


class HealthRecord:
    def __init__(self) -> None:
        self.write: StorageFailure | None = None
        self.read: StorageFailure | None = None
        self._read_key: object = None  # which read failed (its function and arguments)
        self._rerun: Rerun | None = None

    def _note(self, current: StorageFailure | None, operation: str, kind: str,
              reason: str) -> StorageFailure:
        now = _now_ms()
        if current is None:
            log.error("a %s meets storage trouble (%s): /healthz answers 503 until it "
                      "succeeds again", operation, reason)
            return StorageFailure(operation, kind, now, now, 1, reason)
        current.kind, current.reason, current.last_at = kind, reason, now
        current.count += 1
        return current

    def write_failed(self, kind: str, reason: str) -> None:
        self.write = self._note(self.write, "write", kind, reason)

    def write_succeeded(self) -> None:
        if self.write is not None:
            log.warning("writes commit again")
            self.write = None

    def read_failed(self, kind: str, reason: str, key: object, rerun: Rerun) -> None:
        self.read = self._note(self.read, "read", kind, reason)
        self._read_key, self._rerun = key, rerun

    def read_succeeded(self, key: object) -> None:
        if self.read is not None and key == self._read_key:
            log.warning("the read that failed succeeds again")
            self.read, self._read_key, self._rerun = None, None, None

    async def check(self, probe_write: Rerun, probe_read: Rerun) -> StorageFailure | None:
        """The failure that lasts (None: none): the probe write after a write failure, the
        failed read again after a read failure, else `probe_read`. Their own failures are
        recorded by the backend, which calls the methods above."""
        if self.write is not None:
            await _quietly(probe_write)
            if self.write is not None:
                return self.write
        if self.read is not None and self._rerun is not None:
            await _quietly(self._rerun)
            if self.read is not None:
                return self.read
        error = await _quietly(probe_read)
        if self.read is not None:
            return self.read
        if error is not None:  # not storage trouble (a bug): still not healthy
            return StorageFailure("read", "error", _now_ms(), _now_ms(), 1, repr(error))
        return None


async def _quietly(fn: Rerun) -> Exception | None:
    try:
        await fn()
    except Exception as exc:  # recorded by the backend, or returned
        return exc
    return None
