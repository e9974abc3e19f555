"""Live fan-out between instances on PostgreSQL (LISTEN/NOTIFY); docs/deployment.md.

Every write transaction notifies `syncserver_changes` at commit with a small JSON payload
per changed space, `{"i": instance id, "s": space, "p": head before, "h": head after}`
(storage/postgres/transaction.py): a range, never the changes themselves, because a
notification carries at most 8,000 bytes and a batch's changes can be megabytes. Each
instance listens on a connection of its own and, for a notification of another instance
about a space it serves (a WebSocket subscription or a waiting long-poll here), reads the
range once and publishes it to its local Notifier, which shares it with every subscriber.
Notifications for one space that arrive while a read is under way are merged: the union
of their ranges is read once, next.

A notification can be lost (the listening connection drops; PostgreSQL keeps nothing for
a listener that is not connected). So the listener reconnects with backoff and then checks,
and every `--fanout-catchup-interval` seconds the heads of the spaces served here are read
in one query and compared with what was last published here: a gap is read and published
then. A lost notification delays a change by up to that interval; it never loses it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Protocol

import orjson
import psycopg

from ...config.metrics import Metrics
from ...model.mutations import SPACE_PATTERN
from ...model.records import Row
from ..base import LocalNotifier
from .transaction import CHANNEL

log = logging.getLogger("syncserver.fanout")


class Database(Protocol):
    """What the fan-out uses of its backend (backend.PostgresStorage, which makes it):
    where to listen, and its reads."""

    url: str
    connect_timeout: float
    instance_id: str

    async def heads(self, spaces: list[str]) -> dict[str, int]: ...

    async def rows_between(self, space: str, after: int, upto: int) -> list[Row]: ...


BACKOFF_S = (0.1, 5.0)  # reconnect delays of the listener: first, most (doubling, jittered)
READERS = 4  # spaces whose ranges are read at once (each read takes a pooled connection)
CHUNKS = 16  # a gap of more chunks than this is announced, and each subscriber pages it
LOG_EVERY_S = 60.0  # malformed payloads and failed reads: one log line per minute at most


class Fanout:
    def __init__(self, storage: Database, notifier: LocalNotifier, metrics: Metrics,
                 interval: float, chunk: int) -> None:
        self.storage = storage
        self.notifier = notifier
        self.metrics = metrics
        self.interval = interval
        self.chunk = chunk  # seqs per read: at most one push batch's worth of rows in memory
        self._pending: dict[str, tuple[int, int]] = {}  # space -> union of notified ranges
        self._wake = asyncio.Event()
        self._check_now = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._logged: dict[str, float] = {}

    def start(self) -> None:
        self._tasks = [asyncio.create_task(f()) for f in (self._listen, self._pump,
                                                          self._periodic)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _log(self, what: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._logged.get(what, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._logged[what] = now
            log.warning(message, *args)

    # -- the listening connection ----------------------------------------------------

    async def _listen(self) -> None:
        delay, connected_before = BACKOFF_S[0], False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.storage.url, autocommit=True,
                    connect_timeout=max(1, int(self.storage.connect_timeout)),
                    # A peer that vanished without a word (no FIN) is noticed in ~25 s.
                    keepalives=1, keepalives_idle=10, keepalives_interval=5,
                    keepalives_count=3)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.metrics.fanout_listening.set(1)
                    if connected_before:
                        self.metrics.fanout_reconnects.inc()
                        log.warning("the fan-out listens again: checking what it missed")
                    connected_before, delay = True, BACKOFF_S[0]
                    self._check_now.set()  # what was sent while nobody listened
                    async for note in conn.notifies():
                        self._received(note.payload)
            except psycopg.Error as exc:
                self._log("listen", "the fan-out's listening connection is lost (%s): "
                          "reconnecting; meanwhile, changes written through other "
                          "instances reach this one's subscribers at the periodic check",
                          type(exc).__name__)
            except Exception:  # a bug: logged, and the listener goes on
                log.exception("unexpected error in the fan-out's listener: reconnecting")
            finally:
                self.metrics.fanout_listening.set(0)
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, BACKOFF_S[1])

    def _received(self, payload: str) -> None:
        try:
            note = orjson.loads(payload)
            instance, space, prev, head = note["i"], note["s"], note["p"], note["h"]
            if not (isinstance(instance, str) and isinstance(space, str)
                    and SPACE_PATTERN.fullmatch(space) and type(prev) is int
                    and type(head) is int and 0 <= prev < head):
                raise ValueError
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            self.metrics.fanout_malformed.inc()
            self._log("malformed", "ignored a malformed notification on %s: %.200r",
                      CHANNEL, payload)
            return
        if instance == self.storage.instance_id:
            return  # this instance's own write, published here as it committed
        self.metrics.fanout_notifications.inc()
        if self.notifier.serves(space):
            self._want(space, prev, head)

    def _want(self, space: str, prev: int, head: int) -> None:
        lo, hi = self._pending.get(space, (prev, head))
        self._pending[space] = (min(lo, prev), max(hi, head))
        self._wake.set()

    # -- reading ranges and publishing them ------------------------------------------

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                work, self._pending = list(self._pending.items()), {}
                for i in range(0, len(work), READERS):
                    done = await asyncio.gather(*(self._forward(space, lo, hi)
                                                  for space, (lo, hi) in work[i:i + READERS]),
                                                return_exceptions=True)
                    for outcome in done:  # a bug: logged; the periodic check tries again
                        if isinstance(outcome, Exception):
                            log.error("unexpected error in the fan-out", exc_info=outcome)

    async def _forward(self, space: str, prev: int, head: int) -> None:
        """Publish (prev, head] of `space` here, from what was last published here (a gap
        before `prev` is read with it), in chunks; a longer gap is announced
        without its rows, and each subscriber reads it from the database by pages."""
        known = self.notifier.head(space)
        start = prev if known is None else known
        for _ in range(CHUNKS):
            if start >= head or not self.notifier.serves(space) or self.notifier.closing:
                return
            upto = min(head, start + self.chunk)
            try:
                rows = await self.storage.rows_between(space, start, upto)
            except Exception as exc:  # the periodic check tries again
                self._log("read", "the fan-out could not read a range (%s): the periodic "
                          "check tries again", exc)
                return
            self.metrics.fanout_ranges_read.inc()
            self.notifier.publish(space, start, upto, rows)
            start = upto
        if start < head:  # prev == head: no subscriber takes it as is, each reads the gap
            self.notifier.publish(space, head, head, [])

    # -- the periodic check ----------------------------------------------------------

    async def _periodic(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._check_now.wait(), self.interval)
            except TimeoutError:
                pass
            self._check_now.clear()
            try:
                await self.check()
            except Exception as exc:  # the database is away: next time
                self._log("check", "the fan-out's periodic check could not read the "
                          "database (%s)", exc)

    async def check(self) -> None:
        """Compare the heads of the spaces served here with what was last published here,
        and publish any gap (a lost notification, or one still on its way)."""
        self.notifier.prune()
        spaces = self.notifier.served()
        if not spaces:
            return
        self.metrics.fanout_checks.inc()
        heads = await self.storage.heads(spaces)
        for space in spaces:
            head, known = heads.get(space, 0), self.notifier.head(space)
            if known is None:
                # Nothing published here since the space came to be served: whoever
                # serves it read the feed after it began to, but a notification lost
                # since may have been the last. Announced without rows (prev == head):
                # a listener behind reads its gap, and from now on `known` is the mark.
                self.notifier.publish(space, head, head, [])
            elif head > known:
                self.metrics.fanout_behind.inc()
                self._want(space, known, head)
