"""One subscription of a WebSocket connection: catch-up pages from the client's cursor,
then the live changes of its space (the flow control of their frames: outbox.py).

A catch-up page is charged to the page pool (limits.PagePool) from before it is read
until the client has taken it; one page is read at a time per connection. Live batches
go straight to the connection's queue when the subscription is caught up and there is
room, else they wait in `pending` (bounded: past it the connection is a slow consumer).

A client may hold hundreds of subscriptions (SYNCSERVER_WS_MAX_SUBSCRIPTIONS), nearly all
idle, so an idle one is kept small: slots, no `pending` queue until a batch waits (an empty
deque is 760 bytes), and a bare future to wake its task instead of an asyncio.Event (an
object, its dict and a deque of waiters: 1.1 KB). Measured with the load tool's fanout
(1,000 WebSockets x 20 subscriptions): 4.1 KB of server memory per subscription before,
see docs/benchmarks.md for after.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ...core.notifier import Published
from ...guard.limits import PagePool
from ...model.errors import ErrorCode, SyncError
from ...storage.reading import Readable
from .outbox import Outbox, Outgoing
from .wire import shared_frame

if TYPE_CHECKING:
    from ...core.service import SyncService

log = logging.getLogger("syncserver")


class Table(Protocol):
    """What a subscription uses of its connection's table of subscriptions
    (subscribe.Subscriptions): declared here so that the subscription does not import the
    table that imports it."""

    service: SyncService
    pages: PagePool
    outbox: Outbox
    catching_up: asyncio.Lock  # one catch-up page read at a time per connection

    def slow_consumer(self) -> None: ...

    def remove(self, sub: Subscription) -> None: ...


def resync_required(space: str, detail: str) -> dict[str, Any]:
    """Start over: drop the local copy of the space and pull from the empty cursor."""
    return {"type": "resync", "space": space, "code": ErrorCode.RESYNC_REQUIRED.value,
            "cursor": "", "detail": detail}


class Subscription:
    __slots__ = ("table", "service", "outbox", "space", "cursor", "delivered", "collections",
                 "filter", "readable", "pending", "wakeup", "idle", "limit", "task")

    def __init__(self, table: Table, space: str, since: int,
                 collections: list[str] | None, readable: Readable | None = None) -> None:
        self.table = table
        self.service = table.service
        self.outbox = table.outbox
        self.space = space
        self.cursor = since  # the position read up to (frames may still be queued)
        self.delivered = since  # the position of the last frame sent to the client
        self.collections = collections
        self.filter = frozenset(collections) if collections else None
        # What the token's roles leave it of the space (None: everything): its catch-up
        # reads only that (in SQL), and its live frames hold only that.
        self.readable = readable
        # live batches waiting for the run loop; None while none waits (most of the time)
        self.pending: deque[Published] | None = None
        # set while the run loop waits, idle: the next batch that cannot go straight out
        # resolves it
        self.wakeup: asyncio.Future[None] | None = None
        self.idle = False  # caught up, nothing pending: the run loop waits for a wakeup
        self.limit = self.service.settings.ws_queue
        # Listen before catching up, so nothing committed meanwhile is missed.
        self.service.notifier.listen(space, self.on_publish)
        self.task = asyncio.create_task(self.run())

    def stop(self) -> None:
        self.service.notifier.unlisten(self.space, self.on_publish)
        self.task.cancel()
        self._drop_pending()

    def _drop_pending(self) -> None:
        """Its waiting live batches will never be sent: they leave the connection's byte
        budget, or a healthy connection would later be cut as a slow consumer."""
        if self.pending:
            self.outbox.pending_bytes -= sum(p.size for p in self.pending)
        self.pending = None

    async def _end(self, message: dict[str, Any]) -> None:
        """This subscription is over: tell the client why, then free its space. (It stays
        in the connection's table while the message waits for room, so a connection that
        ends meanwhile still cancels it.)"""
        self.service.notifier.unlisten(self.space, self.on_publish)
        self._drop_pending()
        await self.outbox.send(message)
        self.table.remove(self)

    def resync_message(self) -> dict[str, Any]:
        return {"type": "resync", "space": self.space, "code": "slow_consumer",
                "cursor": self.service.encode_cursor(self.space, self.delivered),
                "detail": "the connection fell too far behind the live feed: reconnect and "
                          "resubscribe from this cursor"}

    def on_publish(self, published: Published) -> None:
        outbox = self.outbox
        if outbox.closing is not None:
            return
        if self.idle and not self.pending and published.prev == self.cursor:
            # The fan-out hot path: the next batch for a live, caught-up subscriber goes
            # straight to its socket (or its connection's queue), encoded once for all
            # subscribers, without waking this subscription's task.
            frame = shared_frame(published, self.filter, self.service.encode_cursor,
                                 self.service.metrics, self.readable)
            if frame is None:  # nothing of the batch for this subscriber's collections
                self.cursor = published.head
                return
            if outbox.offer_live(frame, self, published.head):
                self.cursor = published.head
                return
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        pending.append(published)
        outbox.pending_bytes += published.size
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        if len(pending) > self.limit or outbox.pending_bytes > outbox.budget.capacity:
            self.table.slow_consumer()

    async def run(self) -> None:
        try:
            await self._catch_up(live=False)
            text = orjson.dumps({
                "type": "synced", "space": self.space,
                "cursor": self.service.encode_cursor(self.space, self.cursor)}).decode()
            await self.outbox.put(Outgoing(text, self, self.cursor))
            loop = asyncio.get_running_loop()
            while True:
                if not self.pending:
                    self.idle = True
                    self.wakeup = loop.create_future()
                    try:
                        await self.wakeup
                    finally:
                        self.wakeup = None
                    self.idle = False
                while self.pending:
                    published = self.pending.popleft()
                    self.outbox.pending_bytes -= published.size
                    if published.head <= self.cursor:
                        continue
                    if published.prev == self.cursor:
                        await self._send_live(published)
                    else:  # joined mid-batch: read the gap from storage
                        await self._catch_up(live=True)
                self.pending = None  # drained: its deque goes
        except SyncError as exc:
            if exc.code == ErrorCode.RESYNC_REQUIRED:
                await self._end(resync_required(self.space, exc.detail))
            else:
                await self._end({"type": "error", "space": self.space,
                                 "code": exc.code.value, "detail": exc.detail, **exc.extra})
        except Exception:  # a bug: this subscription ends, and the client is told
            log.exception("unexpected error in the WebSocket subscription to %r", self.space)
            await self._end({
                "type": "error", "space": self.space, "code": ErrorCode.INTERNAL_ERROR.value,
                "detail": "an unexpected server error ended this subscription; subscribe "
                          "again from your last cursor"})

    async def _catch_up(self, live: bool) -> None:
        service = self.service
        more = True
        while more:
            async with self.table.catching_up:
                cursor = service.encode_cursor(self.space, self.cursor)
                # Charged to the page pool until the client has taken it (the sender).
                page = await service.changes(self.space, cursor, service.settings.max_page,
                                             self.collections, readable=self.readable)
                held = page.held
                try:
                    self.cursor = service.cursors.decode(self.space, page.cursor)
                    more = page.more
                    if page.count or not live:
                        text = page.body(type="changes", space=self.space, live=live).decode()
                        del page
                        await self.outbox.put(Outgoing(text, self, self.cursor, held))
                        held = 0
                finally:
                    self.table.pages.give_back(held)

    async def _send_live(self, published: Published) -> None:
        frame = shared_frame(published, self.filter, self.service.encode_cursor,
                             self.service.metrics, self.readable)
        self.cursor = published.head
        if frame is not None:  # waits for room: backpressure
            await self.outbox.put(Outgoing(frame.text, self, published.head, shared=frame))
