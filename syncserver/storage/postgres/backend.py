"""PostgreSQL storage: the second backend (storage/base.py), for several server instances
over one database.

psycopg 3 with sync connections from a psycopg_pool.ConnectionPool, used in worker threads:
push.apply_batch stays one synchronous code path for both backends. Each write is its own
transaction on a pooled connection; the row locks that make concurrent instances correct
(gap-free feed, one application per mutation, no lost update) are taken by
PostgresTransaction.lock, in one global order (postgres/transaction.py). A deadlock or a
serialization failure rolls the transaction back and runs it again here, a few times with
jittered backoff, then answers 503 storage_unavailable: never a 500.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, TypeVarTuple, Unpack

import psycopg
from psycopg_pool import ConnectionPool

from ...config.metrics import Metrics
from ...model.records import RecordKey, Row
from .. import record_scan
from ..base import CompactStats, LocalNotifier, Page, SpaceHead
from ..failures import StorageError, StorageUnavailable, unavailable
from ..health import HealthRecord, StorageFailure
from ..push_subscriptions import PushSubscriptionStore
from ..reading import Dialect, Readable, conflicts_restriction
from ..record_scan import ScannedRecord
from . import compact, feed
from .failures import Contention, translate
from .fanout import Fanout
from .transaction import PostgresTransaction

T = TypeVar("T")
Args = TypeVarTuple("Args")
log = logging.getLogger("syncserver.storage")

DEFAULT_POOL_SIZE = 10
RETRIES = 8  # attempts of a write that meets deadlocks or serialization failures
BACKOFF_S = 0.005  # first retry waits up to this (jittered), doubling per attempt

NOT_STORED = "nothing of this request was stored; send it again as it is (a replay is safe)"
UNKNOWN = ("the connection was lost while committing, so the request may or may not be "
           "stored; send it again as it is (a replay is safe)")


def conninfo(url: str) -> str:
    """A libpq URL from a --db value (SQLAlchemy's postgresql+psycopg:// spelling too)."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


class CommitUnknown(Exception):
    """The connection failed while COMMIT was in flight: the outcome is not known."""

    def __init__(self, cause: StorageError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class PostgresStorage(PushSubscriptionStore):
    kind = "postgresql"

    def __init__(self, url: str, pool_size: int = DEFAULT_POOL_SIZE,
                 connect_timeout: float = 10.0) -> None:
        self.url = conninfo(url)
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        # Names this instance in the notifications it sends (postgres_transaction.flush):
        # an instance's listener skips its own, already published locally.
        self.instance_id = secrets.token_hex(8)
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._threads: ThreadPoolExecutor | None = None
        self.record = HealthRecord()  # the storage errors /healthz reports (health.py)
        self.retries = 0  # transactions run again after a deadlock/serialization failure

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        # Autocommit connections: a read is one statement or an explicit transaction, a
        # write BEGINs itself; no connection is ever left idle in a transaction.
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.url, min_size=1, max_size=self.pool_size, open=False,
            # UTF-8 on the wire whatever the database's encoding: the feed page's text is
            # sent to clients as the bytes PostgreSQL returns (feed.py).
            kwargs={"autocommit": True, "client_encoding": "UTF8",
                    "connect_timeout": max(1, int(self.connect_timeout))},
            timeout=self.connect_timeout, name="syncserver")
        try:
            await asyncio.to_thread(pool.open, True, self.connect_timeout)
        except Exception as exc:
            await asyncio.to_thread(pool.close)
            error = translate(exc) if isinstance(exc, psycopg.Error) else StorageUnavailable(
                "the database does not answer", "unreachable")
            raise unavailable(error, "the server cannot start") from exc
        self._pool = pool
        self._threads = ThreadPoolExecutor(max_workers=self.pool_size,
                                           thread_name_prefix="postgres")

    async def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)
            self._pool = None

    async def _run(self, fn: Callable[[Unpack[Args]], T], *args: Unpack[Args]) -> T:
        assert self._threads is not None, "storage is not open"
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    # -- writes ----------------------------------------------------------------------

    async def write(self, fn: Callable[[PostgresTransaction], T]) -> T:
        """Run `fn` in a transaction on a pooled connection; its value once committed.

        A deadlock or serialization failure runs `fn` again in a new transaction (so `fn`
        must have no effect outside the transaction). Storage trouble answers SyncError
        `storage_unavailable`; `fn`'s own exceptions roll back and propagate."""
        try:
            out = await self._run(self._write_now, fn)
        except CommitUnknown as exc:
            self._failed(exc.cause)
            raise unavailable(exc.cause, UNKNOWN) from exc.cause
        except StorageUnavailable as exc:
            self._failed(exc)
            raise unavailable(exc, NOT_STORED) from exc
        self.record.write_succeeded()
        return out

    def _failed(self, exc: StorageError) -> None:
        if isinstance(exc, Contention):  # contention, not trouble: /healthz stays ok
            return
        self.record.write_failed(exc.kind, f"a write could not commit: {exc.reason}")

    def _write_now(self, fn: Callable[[PostgresTransaction], T]) -> T:
        assert self._pool is not None, "storage is not open"
        lost = False
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as conn:
                    try:
                        return self._transaction(conn, fn)
                    except StorageUnavailable as exc:
                        # A pooled connection the server dropped (a restart, an idle
                        # timeout) fails on first use, before anything committed: once,
                        # on a new connection (the pool discards the broken one).
                        if isinstance(exc, Contention) or not conn.broken or attempt > 0:
                            raise
                        lost = True
                if lost:
                    self._pool.check()  # the pool's other idle connections died too
                    continue
            except Contention as exc:
                if attempt == RETRIES - 1:
                    log.warning("a write met %d deadlocks or serialization failures in a "
                                "row: answered 503", RETRIES)
                    raise
                self.retries += 1
                log.info("write retried after %s", exc.reason)
                time.sleep(random.uniform(0, BACKOFF_S * 2 ** attempt))
            except psycopg.Error as exc:  # the pool's (no connection in time)
                raise translate(exc) from exc
        raise AssertionError("unreachable")

    def _transaction(self, conn: psycopg.Connection[Any],
                     fn: Callable[[PostgresTransaction], T]) -> T:
        try:
            conn.execute("BEGIN")
        except psycopg.Error as exc:
            raise translate(exc) from exc
        try:
            txn = PostgresTransaction(conn, self.instance_id)
            out = fn(txn)
            txn.flush()
        except psycopg.Error as exc:  # fn's own statements on txn.conn (compaction)
            _roll_back(conn)
            raise translate(exc) from exc
        except BaseException:
            _roll_back(conn)
            raise
        try:
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            error = translate(exc)
            if conn.broken:  # COMMIT may have reached the server and been applied
                raise CommitUnknown(error) from exc
            _roll_back(conn)
            raise error from exc
        return out

    async def secret(self, name: str = "cursor_secret") -> bytes:
        """A random key kept in the meta table under `name` (`cursor_secret` signs cursors,
        `dev_jwt_secret` dev-mode tokens), created once, whichever of several instances
        starting together gets there first: the others' inserts do nothing and all read
        the one stored."""
        def get_or_create(txn: PostgresTransaction) -> bytes:
            return bytes.fromhex(txn.add_meta(name, secrets.token_bytes(32).hex()))

        return await self.write(get_or_create)

    async def compact(self, older_than_ms: int) -> CompactStats:
        return await compact.compact(self.write, older_than_ms)

    async def health(self) -> StorageFailure | None:
        """The storage failure that lasts (health.py), as SQLiteStorage.health."""
        return await self.record.check(lambda: self.write(_probe_write),
                                       lambda: self.head("__healthz__"))

    def fanout(self, notifier: LocalNotifier, metrics: Metrics, catchup_interval: float,
               chunk: int) -> Fanout:
        """LISTEN/NOTIFY between the instances sharing this database (fanout.py)."""
        return Fanout(self, notifier, metrics, catchup_interval, chunk)

    # -- reads -----------------------------------------------------------------------

    async def _read(self, fn: Callable[[psycopg.Connection[Any], Unpack[Args]], T],
                    *args: Unpack[Args]) -> T:
        try:
            out = await self._run(self._read_now, fn, *args)
        except psycopg.Error as exc:
            error = translate(exc)
            if isinstance(error, StorageUnavailable):
                self.record.read_failed(error.kind, f"a read failed: {exc}", (fn, args),
                                        functools.partial(self._read, fn, *args))
                raise unavailable(error, "a read, nothing was changed") from exc
            raise error from exc
        self.record.read_succeeded((fn, args))
        return out

    def _read_now(self, fn: Callable[[psycopg.Connection[Any], Unpack[Args]], T],
                  *args: Unpack[Args]) -> T:
        assert self._pool is not None, "storage is not open"
        with self._pool.connection() as conn:
            return fn(conn, *args)

    async def head(self, space: str) -> SpaceHead:
        return await self._read(feed.head_now, space)

    async def meta(self, key: str) -> str | None:
        return await self._read(_meta_now, key)

    async def heads(self, spaces: list[str]) -> dict[str, int]:
        return await self._read(feed.heads_now, spaces)

    async def scan_records(self, collections: list[str], after: RecordKey, limit: int
                           ) -> list[ScannedRecord]:
        return await self._read(record_scan.scan_page, collections, after, limit)

    async def count_records(self, collections: list[str]) -> int:
        return await self._read(record_scan.count, collections)

    async def written_spaces(self, limit: int) -> dict[str, int]:
        return await self._read(feed.written_spaces_now, limit)

    async def rows_between(self, space: str, after: int, upto: int) -> list[Row]:
        return await self._read(feed.rows_between_now, space, after, upto)

    async def changes(self, space: str, since: int, limit: int,
                      collections: list[str] | None, max_bytes: int = 1 << 62,
                      readable: Readable | None = None) -> tuple[Page, SpaceHead]:
        return await self._read(feed.changes_now, space, since, limit, collections,
                                min(max_bytes, 1 << 62), readable)

    async def conflicts(self, filters: dict[str, str], after: int, limit: int,
                        spaces: list[str] | None = None,
                        restricted: dict[str, Readable] | None = None
                        ) -> list[dict[str, Any]]:
        """`spaces`: only conflicts of these spaces (None: any); `restricted`: what the
        reader's roles leave it of some (storage/reading.py); filtered in the query so
        that a page is full whatever the other spaces hold."""
        if spaces is not None and not spaces:
            return []
        return await self._read(_conflicts_now, filters, after, limit, spaces, restricted)


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a failed transaction; a connection that broke meanwhile is the pool's to drop
    (the error that failed the transaction is the one to answer, not this one's)."""
    if conn.broken or conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error as exc:
        log.warning("the rollback of a failed write failed: %s", exc)


def _probe_write(txn: PostgresTransaction) -> None:
    txn.set_meta("writer_checked_at", str(int(time.time() * 1000)))


def _meta_now(conn: psycopg.Connection[Any], key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return None if row is None else str(row[0])


ARRAYS = Dialect("{} = ANY(%s)", "{} <> ALL(%s)", "%s", list)  # lists bound as text[]


def _conflicts_now(conn: psycopg.Connection[Any], filters: dict[str, str], after: int,
                   limit: int, spaces: list[str] | None,
                   restricted: dict[str, Readable] | None) -> list[dict[str, Any]]:
    where = ["id > %s"]
    params: list[object] = [after]
    if spaces is not None:
        where.append("space = ANY(%s)")
        params.append(spaces)
    if restricted:
        condition, values = conflicts_restriction(restricted, ARRAYS)
        where.append(condition)
        params.extend(values)
    for column in ("space", "collection", "record_id", "status"):
        if filters.get(column):
            where.append(f"{column} = %s")
            params.append(filters[column])
    cursor = conn.execute(f"SELECT * FROM conflicts WHERE {' AND '.join(where)} "
                          "ORDER BY id LIMIT %s", (*params, limit))
    names = [d.name for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
