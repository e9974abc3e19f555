"""One server per SQLite file: an exclusive lock on the database file itself, held while the
process runs.

All writes of a server go through its single writer thread, and its long-polls and
WebSockets are woken by its own commits: a second process writing the same file would
break both. The lock belongs to the file (its inode), not to the name it was opened by, so
a symlink, a hard link or a second mount of the same file meets it too.

On Linux it is flock(2) on the database file: flock and the POSIX byte-range locks SQLite
takes on the same file are independent there (flock(2), NOTES), and the kernel releases it
when the process ends, however it ends (kill -9 included). /proc/locks names the holder.
Elsewhere (the BSDs and macOS mix the two kinds of lock) it is flock on `<file>.lock` next
to the file's resolved path: symlinks are covered, hard links are refused by the caller
(sqlite_startup.py).

Caveat of any lock on the database file: closing a descriptor of a file drops the POSIX
locks this process holds on it. So the descriptor stays open until release(), which the
commands call after their SQLite connections are closed; a failed acquire closes its own
descriptor before this process opens any connection to the file.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

ON_THE_FILE = sys.platform.startswith("linux")


class DatabaseInUse(Exception):
    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by process {holder or 'unknown'}")
        self.path = path
        self.holder = holder


class DatabaseLock:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = db_path if ON_THE_FILE else Path(str(db_path.resolve()) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> DatabaseLock:
        """Take the lock or raise DatabaseInUse (with the holder's pid when known) at once;
        OSError when the file cannot be opened or created (an unwritable folder). The
        database file is created empty if missing (SQLite reads that as a new database)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd) if ON_THE_FILE else \
                os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise DatabaseInUse(self.db_path, holder) from None
        if not ON_THE_FILE:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # named in the second one's message
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _holder(fd: int) -> str:
    """The pid holding a flock on the file of `fd`, from /proc/locks ("" if not found):
    `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`, the file as major:minor:inode."""
    st = os.fstat(fd)
    file = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                parts = line.split()
                if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == file \
                        and parts[3] == "WRITE":
                    return parts[4]
    except OSError:
        pass
    return ""
