"""Copying the SQLite WAL into the database file on a thread of its own.

SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages, on
the committing connection: here, the writer thread. A push group writes about that much, so
nearly every group waited for a copy of the WAL into the database file and its fsync before
the next group could start (measured: 15-20% of push throughput, docs/benchmarks.md).

The `Checkpointer` does that copy on its own thread and connection, as a PASSIVE checkpoint
that never blocks the writer or the readers, woken after each commit. One thing only the
writer can do: start the WAL over from its beginning. SQLite restarts the WAL when a write
transaction begins and finds every frame copied; a writer that never pauses starts its next
transaction before the checkpointer has caught up, so the WAL file would grow without end.
Once the WAL holds `RESTART_FRAMES` frames, `committed()` asks the writer to checkpoint the
short remainder itself, right after its commit, so that its next transaction restarts it.
The checkpointer learns the WAL's length only when a pass finishes: on a machine whose cores
are busy elsewhere its thread may not run for many commits, and the WAL grew to 30 MB with a
bound of 100 frames. So the writer also checkpoints itself after `STALE_COMMITS` commits
with no pass finished in between: the WAL stays bounded however little the checkpointer runs.
Two passes cannot run at once (SQLite answers the second busy, and copies nothing), and a
pass that runs between the writer's checkpoint and its next transaction can keep that
transaction from restarting the WAL; a starved checkpointer's pass over a long WAL can last
many commits, and the writer's checkpoints were all busy meanwhile (20 MB seen with a bound
of 100 frames). So the writer's checkpoint waits for a pass in progress, and the pass the
writer's commit woke is skipped until its next transaction began. The writer waits for
the checkpointer only when that has fallen behind (the WAL past its bound, or no pass
finished in `STALE_COMMITS` commits): the WAL's bound is then a few groups, not a race.

A checkpoint can fail where a commit did not: on a full disk the WAL may have room for a
commit while the database file cannot grow. Such a failure is logged and the checkpoint is
tried again after a later commit; it is never the failure of a write that has committed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("syncserver.storage")

# About 40 MB of WAL with 4 KiB pages: the writer finishes a checkpoint every ten or so push
# groups under a steady load, and each time only the frames of its last group are left.
RESTART_FRAMES = 10_000
# Commits with no finished pass after which the writer checkpoints itself (see above).
STALE_COMMITS = 8


class Checkpointer:
    def __init__(self, connect: Callable[[], sqlite3.Connection],
                 restart_frames: int = RESTART_FRAMES) -> None:
        self._connect = connect
        self.restart_frames = restart_frames
        self.frames = 0  # frames in the WAL at the last pass
        self.passes = 0
        self.commits_since_pass = 0
        self.failed: BaseException | None = None  # then the writer checkpoints every commit
        self.pass_error: str | None = None  # why the last pass failed (None: it did not)
        self._wake = threading.Event()
        self._pass = threading.Lock()  # held by whichever checkpoint runs, the writer's or ours
        self._writer_copied = False  # until the writer's next commit: no pass (see above)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def committed(self) -> bool:
        """The writer committed: wake the checkpointer. True when the writer should now run a
        checkpoint itself (the WAL is long, or the checkpointer is gone)."""
        self._writer_copied = False  # this transaction restarted the WAL if it could
        self._wake.set()
        self.commits_since_pass += 1
        if self.failed is not None or self.frames >= self.restart_frames \
                or self.commits_since_pass >= STALE_COMMITS:
            self.frames = 0  # the writer's checkpoint lets its next transaction restart it
            self.commits_since_pass = 0
            return True
        return False

    def _run(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:  # any failure hands the job back to the writer
            self._fail(exc)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with self._pass:
                    if self._writer_copied:
                        continue
                    try:
                        _busy, frames, _copied = conn.execute(
                            "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.Error as exc:  # e.g. a full disk: try after a commit
                        self._pass_failed(exc)
                        continue
                if self.pass_error is not None:
                    log.warning("WAL checkpoints succeed again")
                    self.pass_error = None
                self.frames = frames
                self.passes += 1
                self.commits_since_pass = 0
        except Exception as exc:
            self._fail(exc)
        finally:
            conn.close()

    def writer_checkpoint(self, conn: sqlite3.Connection) -> None:
        """The writer's own checkpoint, on its connection, once a pass in progress is done
        (see above); a failure is logged and it asks again next commit."""
        with self._pass:
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                self.frames = self.restart_frames
                self._pass_failed(exc)
            else:
                self._writer_copied = True

    def _pass_failed(self, exc: BaseException) -> None:
        if self.pass_error is None:  # once per run of failures, not once per commit
            log.error("a WAL checkpoint failed (%s); the writes are committed, the WAL "
                      "grows until a checkpoint succeeds (tried after every commit)", exc)
        self.pass_error = str(exc)

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        log.error("the WAL checkpointer stopped (%s); the writer checkpoints after every commit "
                  "from now on, which is slower but loses nothing", exc)
