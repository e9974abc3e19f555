"""One server per SQLite file: an exclusive lock on `<db>.lock`, held while the process runs.

All writes of a server go through its single writer thread, and its long-polls and
WebSockets are woken by its own commits: a second process writing the same file would
break both. flock(2) is released by the kernel when the process ends, however it ends
(kill -9 included), so a lock file left behind never blocks a restart. The file itself is
left in place: removing it on exit would race with a server that is just starting.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DatabaseInUse(Exception):
    def __init__(self, lock_path: Path, holder: str) -> None:
        super().__init__(f"{lock_path} is held by process {holder or 'unknown'}")
        self.lock_path = lock_path
        self.holder = holder


class DatabaseLock:
    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> DatabaseLock:
        """Take the lock or raise DatabaseInUse (with the holder's pid) at once; OSError
        when the lock file cannot be created (an unwritable folder)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise DatabaseInUse(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # named in the second server's message
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
