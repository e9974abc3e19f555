"""The frames on their way to one WebSocket client, and the end of the connection.

One sender task per connection drains a small queue, bounded in frames and in bytes
(SYNCSERVER_WS_MAX_QUEUED_BYTES, every frame counted until it is written to the socket).
Catch-up pages and replies wait for room in it (natural backpressure); a live batch goes in
only when it fits now, else it waits in its subscription, bounded (subscription.py).

The live fan-out's fast path skips the queue: while nothing is queued, a live frame encoded
once for all subscribers (wire.py) is staged, its bytes appended to the connection's staged
frames (`offer_live`), and the coalescer (coalesce.py) writes all of them in one write to
the socket on a later turn of the event loop: no task wakes up per subscriber, no ASGI send
encodes the text again, and a connection that gets several batches before its flush gets
them in one write. Staged frames count in the byte budget until written. When the socket
does not take raw writes (paused, closing, a compressing extension), the sender sends them
one by one through the ASGI send, as it does the queue's frames.

Order: frames are staged only while the queue is empty, so every staged frame is older than
anything queued; the sender takes the staged frames before each item it takes from the
queue (and before it waits), and the coalescer writes them only while the sender waits
with nothing queued.

A slow consumer is dropped, one of two ways: a client that takes no frame for
SYNCSERVER_SEND_TIMEOUT seconds has its socket aborted with what it left unread (a close
would wait for that to drain: for ever); a connection whose waiting live batches overflow
is closed, each subscription told to resync from the cursor the client last received.

Each queued frame remembers the subscription and the feed position it carries; the sender
notes the position once the frame is sent, so a resync names the last cursor the client
actually got, whatever was still queued and dropped. A catch-up page holds its page-pool
bytes until it left our buffers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, Protocol

import orjson
from starlette.websockets import WebSocket

from ...config.metrics import Metrics
from ...config.settings import Settings
from ...guard.limits import ByteBudget, PagePool, spread
from ..sending import DRAINED, WRITE_FRAME, abort, ignore_input
from .closes import CLOSE_NORMAL, CLOSE_SLOW_CONSUMER, Closing, Farewell
from .coalesce import Coalescer, Tally
from .lean import LeanQueue
from .wire import SharedFrame

OUTBOUND_QUEUE = 8  # frames


class Delivery(Protocol):
    """A subscription, as the sender sees it: where its client's feed is once sent."""

    delivered: int


class Outgoing(NamedTuple):
    """A frame on its way out: its text, the subscription and seq it moves the client to,
    the bytes it holds in the page pool (a catch-up page; 0 for any other frame), and a
    live frame's encoding shared with the other subscribers (None: encoded when sent)."""

    text: str
    subscription: Delivery | None = None
    seq: int = 0
    held: int = 0
    shared: SharedFrame | None = None


# A live frame staged for a connection: the subscription and seq it moves the client to.
StagedFrame = tuple[SharedFrame, Delivery, int]
# Wakes the sender to send staged frames the coalescer could not write (its socket does
# not take raw writes now): it carries nothing itself.
WAKE = Outgoing("")


class Outbox:
    __slots__ = ("ws", "coalescer", "staged", "pages", "metrics", "send_timeout", "stop_feeds",
                 "queue", "budget", "closing", "_farewell", "sender", "waiting", "write_frame",
                 "_pending_bytes", "pool_held", "_tasks")

    def __init__(self, ws: WebSocket, pages: PagePool, metrics: Metrics, settings: Settings,
                 stop_feeds: Callable[[], None], coalescer: Coalescer) -> None:
        self.ws = ws
        self.coalescer = coalescer
        # Live frames waiting for the coalescer's write (None: none, most of the time)
        self.staged: list[StagedFrame] | None = None
        self.pages = pages
        self.metrics = metrics
        self.send_timeout = settings.send_timeout
        # Stops every subscription of the connection: nothing is queued after a gap.
        self.stop_feeds = stop_feeds
        self.queue: LeanQueue[Outgoing | None] = LeanQueue(OUTBOUND_QUEUE)
        self.budget = ByteBudget(settings.ws_max_queued_bytes)
        self.closing: Closing | None = None
        self._farewell: Farewell = list
        self.sender: asyncio.Task[None] | None = None
        # True while the sender waits for the next frame: nothing is on its way out
        self.waiting = False
        # Writes an encoded frame as is (`syncserver serve`'s protocol, timeouts.py)
        self.write_frame: Callable[[bytes], bool] | None = \
            ws.scope.get("extensions", {}).get(WRITE_FRAME)
        self._pending_bytes = 0  # live batches held by this connection's subscriptions
        self.pool_held = 0  # page-pool bytes of the frame last handed to the socket
        # Tasks of its own beside the sender, referenced until they end: the event loop
        # holds tasks only weakly (one could be collected mid-flight).
        self._tasks: set[asyncio.Task[Any]] | None = None  # made by the first

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @pending_bytes.setter
    def pending_bytes(self, value: int) -> None:
        self.metrics.ws_pending_bytes.inc(value - self._pending_bytes)
        self._pending_bytes = value

    async def send(self, message: dict[str, Any]) -> None:
        await self.put(Outgoing(orjson.dumps(message).decode()))

    async def put(self, item: Outgoing) -> None:
        """Queue a frame, waiting for room (frames and bytes)."""
        await self.budget.reserve(len(item.text))
        await self.queue.put(item)

    def offer_live(self, frame: SharedFrame, subscription: Delivery, seq: int) -> bool:
        """A live frame, now or not at all: staged for the coalescer's next write when
        nothing is queued before it, else queued; either when it fits (frames and bytes).
        False: no room, the subscription keeps the batch pending."""
        size = len(frame.text)
        if not self.budget.fits(size):
            return False
        if self.queue.empty():
            staged = self.staged
            if staged is not None:  # a write of this connection is on its way: join it
                staged.append((frame, subscription, seq))
                self.budget.take(size)
                return True
            if self.waiting and self.write_frame is not None:
                self.staged = [(frame, subscription, seq)]
                self.budget.take(size)
                self.coalescer.mark(self)
                return True
        elif self.queue.full():
            return False
        self.queue.put_nowait(Outgoing(frame.text, subscription, seq, shared=frame))
        self.budget.take(size)
        return True

    def write_staged(self, tally: Tally) -> None:
        """The coalescer's turn: the staged frames in one write, when the sender waits with
        nothing queued (else it sends them before its next frame); a socket that does not
        take the raw write now has the sender send them."""
        if self.staged is None or not self.waiting or not self.queue.empty():
            return
        staged, self.staged = self.staged, None
        if not self._write_raw(staged, tally):
            self.staged = staged
            self.queue.put_nowait(WAKE)  # (empty: the sender waits for it)

    def _write_raw(self, staged: list[StagedFrame], tally: Tally) -> bool:
        """Staged frames written as one write of their encoded bytes; False: the socket
        does not take raw writes now, nothing was written."""
        assert self.write_frame is not None
        if len(staged) == 1:
            data = staged[0][0].wire
        else:
            data = b"".join([frame.wire for frame, _subscription, _seq in staged])
        if not self.write_frame(data):
            return False
        changes = size = 0
        for frame, subscription, seq in staged:
            subscription.delivered = seq
            changes += frame.records
            size += len(frame.text)
        self.budget.release(size)
        tally.frames += len(staged)
        tally.writes += 1
        tally.changes += changes
        return True

    def start(self) -> None:
        self.sender = asyncio.create_task(self._sender())

    async def _sender(self) -> None:
        timeout = spread(self.send_timeout)
        drained: Callable[[], Awaitable[Any]] | None = \
            self.ws.scope.get("extensions", {}).get(DRAINED)
        try:
            while True:
                if self.staged is not None:  # staged while this sent: before waiting
                    if not await self._send_staged(timeout):
                        return
                    continue
                self.waiting = True
                item = await self.queue.get()
                self.waiting = False
                # Staged before the item was queued (none is staged while it is): first.
                if self.staged is not None and not await self._send_staged(timeout):
                    return
                if item is None:
                    break
                if item is WAKE:
                    continue
                text, subscription, seq, held, shared = item
                try:
                    # A client that takes nothing for `timeout` seconds is dropped, with
                    # what it left unread (a close would wait for it to drain: for ever).
                    async with asyncio.timeout(timeout):
                        if shared is not None and self.write_frame is not None \
                                and self.write_frame(shared.wire):
                            pass  # the frame went out as encoded for every subscriber
                        else:
                            await self.ws.send({"type": "websocket.send", "text": text})
                        if drained is not None and held:  # the page left our buffers
                            await drained()
                except TimeoutError:
                    self._stalled(held)
                    return
                if shared is not None:
                    self.metrics.ws_live_frames_sent.inc()
                    self.metrics.changes_served.inc(shared.records)
                if drained is not None:
                    self.pages.give_back(held)
                else:  # (another server) the next send waits for this frame to drain
                    self.pages.give_back(self.pool_held)
                    self.pool_held = held
                self.budget.release(len(text))
                if subscription is not None:
                    subscription.delivered = seq
        finally:
            self.waiting = False
            self.pages.give_back(self.pool_held)
            self.pool_held = 0
        # Rendered only now, after the last queued frame went out: a resync names the
        # cursor the client holds.
        try:
            async with asyncio.timeout(timeout):
                for message in self._farewell():
                    await self.ws.send({"type": "websocket.send",
                                        "text": orjson.dumps(message).decode()})
                code, reason = self.closing or Closing(CLOSE_NORMAL, "")
                await self.ws.close(code, reason)
        except TimeoutError:
            self._stalled(0)

    async def _send_staged(self, timeout: float) -> bool:
        """The staged frames, taken now: in one raw write when the socket takes it, else
        one by one through the ASGI send. False: the client stalled, it was dropped."""
        staged, self.staged = self.staged or [], None
        tally = Tally()
        if self.write_frame is not None and self._write_raw(staged, tally):
            tally.add_to(self.metrics)
            return True
        for at, (frame, subscription, seq) in enumerate(staged):
            try:
                async with asyncio.timeout(timeout):
                    await self.ws.send({"type": "websocket.send", "text": frame.text})
            except TimeoutError:
                self.budget.release(sum(len(f.text) for f, _s, _q in staged[at:]))
                self._stalled(0)
                return False
            self.budget.release(len(frame.text))
            subscription.delivered = seq
            self.metrics.ws_live_frames_sent.inc()
            self.metrics.changes_served.inc(frame.records)
        return True

    def _stalled(self, held: int) -> None:
        """The client took nothing for SYNCSERVER_SEND_TIMEOUT seconds: drop it."""
        self.metrics.ws_slow_consumers.inc()
        self.pages.give_back(held)
        if self.closing is None:
            self.closing = Closing(CLOSE_SLOW_CONSUMER, "slow consumer")
        self.stop_feeds()
        self._drop_queued()
        ignore_input(self.ws.scope)
        self._spawn(abort(self.ws.scope))

    def _drop_queued(self) -> None:
        staged, self.staged = self.staged, None
        if staged:
            self.budget.release(sum(len(frame.text) for frame, _s, _q in staged))
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                self.budget.release(len(item.text))
                self.pages.give_back(item.held)

    def close(self, code: int, reason: str, farewell: Farewell,
              drop_queued: bool = False) -> None:
        """Stop every subscription, then send what is queued (or drop it), the farewell
        messages and a close frame; the receive loop stops."""
        if self.closing is not None:
            return
        self.closing = Closing(code, reason)
        self._farewell = farewell
        # Stopped before anything is dropped: no subscription queues a frame after a gap.
        self.stop_feeds()
        if drop_queued:
            self._drop_queued()
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:  # the receive loop's own close: room comes as frames go
            self._spawn(self.queue.put(None))

    def close_after(self, code: int, reason: str, message: dict[str, Any],
                    drop_queued: bool = False) -> None:
        """Close, the client told why by one last message (an error frame)."""
        self.close(code, reason, lambda: [message], drop_queued)

    def slow_consumer(self, resyncs: Farewell) -> None:
        """Live batches overflowed: close, what is queued dropped; `resyncs` name the
        cursor the client last received, for each of its subscriptions."""
        self.metrics.ws_slow_consumers.inc()
        self.close(CLOSE_SLOW_CONSUMER, "slow consumer", resyncs, drop_queued=True)

    async def closed(self) -> None:
        """Wait until the sender ended: the close frame went out (or the client was
        dropped)."""
        if self.sender is not None:
            await asyncio.wait([self.sender])

    async def finish(self) -> None:
        """The connection ended: the sender ends too (at once if nobody closed it), and
        what is still queued gives its page-pool bytes back."""
        if self.sender is not None:
            if self.closing is None:
                self.sender.cancel()
            await asyncio.gather(self.sender, return_exceptions=True)
        self._drop_queued()
