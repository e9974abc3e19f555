"""SQLite storage (storage/base.Storage): one writer thread owns the only write connection
(so seq and version assignment is serialized), readers use their own connections
concurrently (WAL). Its transaction: sqlite/transaction.py; its reads: feed.py; its
file checks and lock: sqlite/startup.py, lockfile.py; its WAL checkpoints: checkpoint.py."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...config.metrics import Metrics
from ...model import recordmeta
from ...model.records import CREATED_META, RecordKey, Row
from .. import record_scan
from ..base import CompactStats, LocalNotifier, Page, SpaceHead
from ..checkpoint import RESTART_FRAMES, Checkpointer
from ..failures import StorageUnavailable, TransactionLost, unavailable
from ..health import HealthRecord, StorageFailure
from ..push_subscriptions import PushSubscriptionStore
from ..reading import Readable
from ..record_scan import ScannedRecord
from . import feed, pages
from .failures import translate
from .feed import CHANGE_JSON  # noqa: F401 (migration 0004 imports it from here)
from .transaction import SQLiteTransaction

T = TypeVar("T")
_Write = tuple[Callable[[SQLiteTransaction], Any], "asyncio.Future[Any]"]
log = logging.getLogger("syncserver.storage")

NOT_STORED = "nothing of this request was stored; send it again as it is (a replay is safe)"


def _probe_write(txn: SQLiteTransaction) -> None:
    txn.set_meta("writer_checked_at", str(int(time.time() * 1000)))


def sqlite_path(url: str) -> str:
    for prefix in ("sqlite+pysqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            return url[len(prefix):]
    return url


class SQLiteStorage(PushSubscriptionStore):
    kind = "sqlite"

    def __init__(self, path: str, synchronous: str = "FULL", read_only: bool = False) -> None:
        self.path = path
        self.synchronous = synchronous
        # Read-only (the `conflicts` command): open() starts no writer, which would set WAL
        # mode and checkpoint, i.e. write to the file.
        self.read_only = read_only
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._write_conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._pending: list[_Write] = []
        # The task committing the pending writes, while one runs: referenced here, since
        # the event loop holds tasks only weakly (one could be collected mid-flight).
        self._drainer: asyncio.Task[None] | None = None
        self._checkpointer: Checkpointer | None = None
        self.checkpoint_restart_frames = RESTART_FRAMES
        self.record = HealthRecord()  # the storage errors /healthz reports (health.py)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        return conn

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        if not self.read_only:
            await self._on_writer(self._open_writer)

    def _open_writer(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer's job (checkpoint.py)
        self._checkpointer = Checkpointer(self._checkpoint_connection,
                                          self.checkpoint_restart_frames)
        self._checkpointer.start()
        self._write_conn = conn

    async def close(self) -> None:
        if self._drainer is not None:  # the writes already handed over are answered first
            await asyncio.wait([self._drainer])
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        if self._write_conn is not None:
            await self._on_writer(self._write_conn.close)
            self._write_conn = None
        self._writer.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    def _checkpoint_connection(self) -> sqlite3.Connection:
        return self._connect()

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    # -- writes ----------------------------------------------------------------------

    async def write(self, fn: Callable[[SQLiteTransaction], T]) -> T:
        """Run `fn` in a write transaction on the writer thread; return once committed.

        Group commit: writes that arrive while the writer is busy are committed together,
        each in its own savepoint (one failing rolls back only itself), so concurrent
        pushes share one fsync instead of queueing for one each.

        The answer is the group's true outcome: `fn`'s value only once COMMIT has succeeded
        (what follows it, the checkpoint, cannot fail a write); SyncError
        `storage_unavailable` when the group did not commit for storage trouble (full disk,
        I/O error, lock timeout). `fn` must let database errors propagate: SQLite rolls back
        the whole transaction on some of them, and statements run after that would commit
        on their own.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((fn, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
            self._drainer.add_done_callback(self._drain_ended)
        return await future  # type: ignore[no-any-return]

    def _drain_ended(self, task: asyncio.Task[None]) -> None:
        """A drain cancelled before its first step ran none of its own cleanup: do it."""
        if self._drainer is task:
            self._drainer = None
            self._cancel_writes([])

    def _cancel_writes(self, group: list[_Write]) -> None:
        """No answer for these writes (the group in flight may still commit on the writer
        thread; the queued ones will not run): their requests are cancelled, never told
        stored or not stored (a replay is safe)."""
        for _fn, future in group + self._pending:
            future.cancel()
        self._pending = []

    async def _drain(self) -> None:
        group: list[_Write] = []
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    outcomes = await self._on_writer(functools.partial(self._write_group,
                                                                       group))
                except Exception as exc:  # the group did not commit: nothing is stored
                    error: Exception = translate(exc) if isinstance(exc, sqlite3.Error) else exc
                    if isinstance(error, StorageUnavailable):
                        self.record.write_failed(error.kind,
                                                 f"the writer cannot commit: {error.reason}")
                        error = unavailable(error, NOT_STORED)
                    outcomes = [(False, error)] * len(group)
                else:
                    self.record.write_succeeded()
                for (_fn, future), (ok, value) in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
                group = []
        except BaseException:  # cancelled (the loop is stopping) or interrupted
            self._cancel_writes(group)
            raise  # this task ends as cancelled, instead of draining on
        finally:
            self._drainer = None

    def _write_group(self, group: list[tuple[Callable[[SQLiteTransaction], Any], Any]]
                     ) -> list[tuple[bool, Any]]:
        conn = self._write_conn
        assert conn is not None, "storage is not open"
        outcomes: list[tuple[bool, Any]] = []
        if conn.in_transaction:  # the rollback of an earlier group failed: finish it first
            conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _future in group:
                conn.execute("SAVEPOINT one_write")
                try:
                    txn = SQLiteTransaction(conn)
                    out = fn(txn)
                    txn.flush()
                except Exception as exc:
                    # fn's own statements on txn.conn (compaction, epochs) raise SQLite's
                    error = translate(exc) if isinstance(exc, sqlite3.Error) else exc
                    if isinstance(error, StorageUnavailable) or not conn.in_transaction:
                        # SQLite rolls back the whole transaction on a full disk, an I/O
                        # error, ... (rescode.html): the writes before this one are gone
                        # too, so the group fails as a whole, none of it answered committed.
                        raise error  # noqa: B904 (a translated error has exc as its cause)
                    conn.execute("ROLLBACK TO one_write")
                    outcomes.append((False, error))
                else:
                    if not conn.in_transaction:  # fn swallowed such an error: see write()
                        raise TransactionLost("the write transaction was rolled back under "
                                              "a write")
                    outcomes.append((True, out))
                conn.execute("RELEASE one_write")
            conn.execute("COMMIT")
        except BaseException:
            self._roll_back(conn)
            raise
        self._checkpoint_after_commit(conn)
        return outcomes

    @staticmethod
    def _roll_back(conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:  # SQLite already rolled it back (full disk, I/O error)
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the next group rolls back first (in_transaction)
            log.error("the rollback of a failed write group failed: %s", exc)

    def _checkpoint_after_commit(self, conn: sqlite3.Connection) -> None:
        """The group is committed whatever happens here: a checkpoint that fails (the
        database file cannot grow on a full disk) is logged and tried again later."""
        checkpointer = self._checkpointer
        if checkpointer is not None and checkpointer.committed():
            checkpointer.writer_checkpoint(conn)

    @property
    def write_failure(self) -> str | None:
        """Why the writer's last group could not commit (None: it committed)."""
        return self.record.write.reason if self.record.write is not None else None

    async def health(self) -> StorageFailure | None:
        """The storage failure that lasts (health.py); a health check writes nothing while
        all is well."""
        return await self.record.check(lambda: self.write(_probe_write),
                                       lambda: self.head("__healthz__"))

    def fanout(self, notifier: LocalNotifier, metrics: Metrics, catchup_interval: float,
               chunk: int) -> None:
        """None: one process owns the file, so every change is published where it commits."""
        return None

    async def secret(self, name: str = "cursor_secret") -> bytes:
        """A random key kept in the meta table under `name`, created on first use:
        `cursor_secret` signs cursors, `dev_jwt_secret` signs dev-mode tokens."""
        def get_or_create(txn: SQLiteTransaction) -> bytes:
            stored = txn.get_meta(name)
            if not stored:
                stored = txn.add_meta(name, secrets.token_bytes(32).hex())
            return bytes.fromhex(stored)

        return await self.write(get_or_create)

    async def compact(self, older_than_ms: int) -> CompactStats:
        cutoff = int(time.time() * 1000) - older_than_ms

        def run(txn: SQLiteTransaction) -> CompactStats:
            c = txn.conn
            stats = CompactStats()
            rows = c.execute(
                "SELECT space, max(seq), count(*) FROM records "
                "WHERE deleted AND updated_at < ? GROUP BY space", (cutoff,)
            ).fetchall()
            for space, max_seq, count in rows:
                c.execute(
                    "UPDATE spaces SET horizon = max(horizon, ?) WHERE space = ?", (max_seq, space)
                )
                stats.horizons[space] = max_seq
                stats.tombstones += count
            c.execute("DELETE FROM records WHERE deleted AND updated_at < ?", (cutoff,))
            c.execute(
                "INSERT INTO clients (client_id, purged_mid) "
                "SELECT client_id, max(last_mid) FROM mutation_batches WHERE created_at < ? "
                "GROUP BY client_id ON CONFLICT (client_id) DO UPDATE SET "
                "purged_mid = max(purged_mid, excluded.purged_mid)", (cutoff,)
            )
            stats.mutations = c.execute(
                "SELECT coalesce(sum(count), 0) FROM mutation_batches WHERE created_at < ?",
                (cutoff,)).fetchone()[0]
            c.execute("DELETE FROM mutation_batches WHERE created_at < ?", (cutoff,))
            stats.conflicts = c.execute(
                "DELETE FROM conflicts WHERE status = 'resolved' AND created_at < ?", (cutoff,)
            ).rowcount
            return stats

        stats = await self.write(run)
        # Conflict metadata older than the horizon (recordmeta.compact): data, version and
        # feed position stay as they are. Every record with metadata is read (one written
        # since the cutoff may still hold older entries), 500 per write transaction, so
        # pushes wait for one page at a time, never for the whole table.
        after: int | None = 0
        while after is not None:
            page = functools.partial(_trim_metadata, after=after, cutoff=cutoff)
            after, trimmed = await self.write(page)
            stats.metadata += trimmed
        return stats

    # -- reads -----------------------------------------------------------------------

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)` on a reader thread, with that thread's connection."""
        def run() -> T:
            return fn(self._reader(), *args)

        try:
            out = await asyncio.to_thread(run)
        except sqlite3.Error as exc:
            error = translate(exc)
            if isinstance(error, StorageUnavailable):
                self.record.read_failed(error.kind, f"a read failed: {exc}", (fn, args),
                                        functools.partial(self._read, fn, *args))
                raise unavailable(error, "a read, nothing was changed") from exc
            raise error from exc
        self.record.read_succeeded((fn, args))
        return out

    async def conflicts(self, filters: dict[str, str], after: int, limit: int,
                        spaces: list[str] | None = None,
                        restricted: dict[str, Readable] | None = None
                        ) -> list[dict[str, Any]]:
        return await self._read(feed.read_conflicts, filters, after, limit, spaces,
                                restricted)

    async def head(self, space: str) -> SpaceHead:
        return await self._read(feed.read_head, space)

    async def meta(self, key: str) -> str | None:
        return await self._read(feed.read_meta, key)

    async def heads(self, spaces: list[str]) -> dict[str, int]:
        return await self._read(feed.read_heads, spaces)

    async def scan_records(self, collections: list[str], after: RecordKey, limit: int
                           ) -> list[ScannedRecord]:
        return await self._read(record_scan.scan_page, collections, after, limit)

    async def count_records(self, collections: list[str]) -> int:
        return await self._read(record_scan.count, collections)

    async def written_spaces(self, limit: int) -> dict[str, int]:
        return await self._read(feed.read_written_spaces, limit)

    async def rows_between(self, space: str, after: int, upto: int) -> list[Row]:
        return await self._read(feed.read_rows_between, space, after, upto)

    async def changes(self, space: str, since: int, limit: int,
                      collections: list[str] | None, max_bytes: int = 1 << 62,
                      readable: Readable | None = None) -> tuple[Page, SpaceHead]:
        return await self._read(pages.read_changes, space, since, limit, collections,
                                max_bytes, readable)


def _trim_metadata(txn: SQLiteTransaction, after: int, cutoff: int) -> tuple[int | None, int]:
    """One page of metadata compaction: (the last rowid read, or None at the end; how many
    records were trimmed)."""
    c = txn.conn
    rows = c.execute("SELECT rowid, data, meta FROM records WHERE rowid > ? AND meta IS NOT "
                     "NULL AND meta != ? ORDER BY rowid LIMIT 500",
                     (after, CREATED_META)).fetchall()
    trimmed, last = 0, None
    for rowid, data, meta in rows:
        smaller = recordmeta.compact(meta, data, cutoff)
        if smaller is not None:
            c.execute("UPDATE records SET meta = ? WHERE rowid = ?", (smaller, rowid))
            trimmed += 1
        last = rowid
    return last, trimmed
