"""The WebSocket channel: subscriptions (catch-up pages, then live changes) and push.

Flow control: one sender task per connection drains a small outbound queue. Catch-up reads
wait for room in it (natural backpressure). Live batches wait in a bounded per-subscription
list; when it overflows the consumer is too slow, and it is told to resync and closed rather
than buffered without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import exact_json
from .errors import ErrorCode, SyncError
from .http_api import parse_collections
from .notifier import Published
from .service import SyncService, check_space
from .version import PROTOCOL_VERSION

CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_BAD_FRAME = 4400
CLOSE_SLOW_CONSUMER = 4408
OUTBOUND_QUEUE = 8


class SlowConsumer(Exception):
    pass


class Connection:
    def __init__(self, websocket: WebSocket, service: SyncService) -> None:
        self.ws = websocket
        self.service = service
        self.outbound: asyncio.Queue[str | None] = asyncio.Queue(OUTBOUND_QUEUE)
        self.subscriptions: dict[str, Subscription] = {}
        self.closing: tuple[int, str] | None = None
        self.sender: asyncio.Task[None] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.outbound.put(orjson.dumps(message).decode())

    async def run(self) -> None:
        await self.ws.accept()
        self.service.metrics.ws_connections.inc()
        sender = self.sender = asyncio.create_task(self._sender())
        notifier = self.service.notifier
        notifier.on_shutdown(self.going_away)
        try:
            if notifier.closing:
                await self.going_away()
            await self._receive_loop()
        except (WebSocketDisconnect, SlowConsumer):
            pass
        finally:
            notifier.off_shutdown(self.going_away)
            for sub in list(self.subscriptions.values()):
                sub.stop()
            self.service.metrics.ws_connections.dec()
            if self.closing is None:
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _sender(self) -> None:
        while True:
            text = await self.outbound.get()
            if text is None:
                break
            await self.ws.send({"type": "websocket.send", "text": text})
        code, reason = self.closing or (1000, "")
        await self.ws.close(code, reason)

    async def close(self, code: int, reason: str, last: dict[str, Any] | None) -> None:
        """Queue a last message (if any) and a close frame; the receive loop stops."""
        if self.closing is None:
            self.closing = (code, reason)
            for sub in list(self.subscriptions.values()):
                sub.stop()
            if last is not None:
                await self.send(last)
            await self.outbound.put(None)

    async def going_away(self) -> None:
        """The server is stopping: close with 1001 now. Frames still queued are dropped:
        the client resumes from the last cursor it received and replays unanswered
        pushes (both harmless), and the close is not held up behind them."""
        while not self.outbound.empty():
            self.outbound.get_nowait()
        await self.close(CLOSE_GOING_AWAY, "server shutting down", None)
        if self.sender is not None:
            await asyncio.wait([self.sender])

    def slow_consumer(self, space: str) -> None:
        self.service.metrics.ws_slow_consumers.inc()
        # Drop what is waiting: the client will resume from its last cursor anyway.
        while not self.outbound.empty():
            self.outbound.get_nowait()
        asyncio.get_running_loop().create_task(self.close(
            CLOSE_SLOW_CONSUMER, "slow consumer",
            {"type": "resync", "space": space, "code": "slow_consumer",
             "detail": "the connection fell too far behind the live feed: reconnect and "
                       "resubscribe with your last cursor"}))

    async def _receive_loop(self) -> None:
        while self.closing is None:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            text = message.get("text")
            if text is None:
                await self.close(CLOSE_UNSUPPORTED, "binary frames are not supported", {
                    "type": "error", "code": "unsupported_frame",
                    "detail": "send JSON text frames"})
                return
            try:
                frame = exact_json.loads(text)  # integers past 64 bits: see exact_json
                if not isinstance(frame, dict):
                    raise SyncError(ErrorCode.INVALID_REQUEST, "a frame is a JSON object")
                await self._dispatch(frame)
            except orjson.JSONDecodeError as exc:
                await self._bad_frame(ErrorCode.MALFORMED_JSON, f"the frame is not JSON: {exc}")
            except SyncError as exc:
                if exc.code in (ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON):
                    await self._bad_frame(exc.code, exc.detail)
                else:
                    await self.send({"type": "error", "code": exc.code.value,
                                     "detail": exc.detail, **exc.extra})

    async def _bad_frame(self, code: ErrorCode, detail: str) -> None:
        await self.close(CLOSE_BAD_FRAME, "bad frame",
                         {"type": "error", "code": code.value, "detail": detail})

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "hello":
            await self.send({"type": "welcome", "protocol": PROTOCOL_VERSION})
        elif kind == "subscribe":
            await self._subscribe(frame)
        elif kind == "unsubscribe":
            sub = self.subscriptions.pop(check_space(frame.get("space")), None)
            if sub is not None:
                sub.stop()
        elif kind == "push":
            request_id = frame.get("request_id")
            if request_id is not None and not isinstance(request_id, (str, int)):
                raise SyncError(ErrorCode.INVALID_REQUEST, "request_id must be a string")
            try:
                body = await self.service.push(frame)
            except SyncError as exc:  # the error frame says which push it answers
                if exc.code != ErrorCode.STORAGE_UNAVAILABLE:
                    raise
                raise SyncError(exc.code, exc.detail, **exc.extra,
                                request_id=request_id) from None
            head = b'{"type":"push_result","request_id":' + orjson.dumps(request_id) + b","
            await self.outbound.put((head + body[1:]).decode())
        else:
            raise SyncError(ErrorCode.INVALID_REQUEST, f"unknown message type {kind!r}")

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        space = check_space(frame.get("space"))
        cursor = frame.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise SyncError(ErrorCode.BAD_CURSOR, "cursor must be a string", space=space)
        collections = parse_collections(frame.get("collections"))
        try:
            since = self.service.cursors.decode(space, cursor)
        except SyncError as exc:
            raise SyncError(exc.code, exc.detail, space=space) from None
        old = self.subscriptions.pop(space, None)
        if old is not None:
            old.stop()
        self.subscriptions[space] = Subscription(self, space, since, collections)


class Subscription:
    def __init__(self, conn: Connection, space: str, since: int,
                 collections: list[str] | None) -> None:
        self.conn = conn
        self.space = space
        self.cursor = since
        self.collections = collections
        self.filter = frozenset(collections) if collections else None
        self.pending: deque[Published] = deque()
        self.wakeup = asyncio.Event()
        self.idle = False  # caught up, nothing pending: the run loop waits for a wakeup
        self.limit = conn.service.settings.ws_queue
        # Listen before catching up, so nothing committed meanwhile is missed.
        conn.service.notifier.listen(space, self.on_publish)
        self.task = asyncio.create_task(self.run())

    def stop(self) -> None:
        self.conn.service.notifier.unlisten(self.space, self.on_publish)
        self.task.cancel()

    def on_publish(self, published: Published) -> None:
        if self.idle and not self.pending and published.prev == self.cursor \
                and not self.conn.outbound.full():
            # The fan-out hot path: the next batch for a live, caught-up subscriber goes
            # straight to its connection's queue, without waking this subscription's task.
            self._queue_live(published)
            return
        self.pending.append(published)
        self.wakeup.set()
        if len(self.pending) > self.limit:
            self.stop()
            self.conn.slow_consumer(self.space)

    async def run(self) -> None:
        try:
            await self._catch_up(live=False)
            await self.conn.send({"type": "synced", "space": self.space,
                                  "cursor": self.conn.service.encode_cursor(self.space,
                                                                            self.cursor)})
            while True:
                self.idle = True
                await self.wakeup.wait()
                self.idle = False
                self.wakeup.clear()
                while self.pending:
                    published = self.pending.popleft()
                    if published.head <= self.cursor:
                        continue
                    if published.prev == self.cursor:
                        await self._send_live(published)
                    else:  # joined mid-batch: read the gap from storage
                        await self._catch_up(live=True)
        except SyncError as exc:
            if exc.code == ErrorCode.RESYNC_REQUIRED:
                await self.conn.send({"type": "resync", "space": self.space,
                                      "code": exc.code.value, "detail": exc.detail})
            else:
                await self.conn.send({"type": "error", "space": self.space,
                                      "code": exc.code.value, "detail": exc.detail})
            self.conn.service.notifier.unlisten(self.space, self.on_publish)

    async def _catch_up(self, live: bool) -> None:
        service = self.conn.service
        while True:
            cursor = service.encode_cursor(self.space, self.cursor)
            page = await service.changes(self.space, cursor, service.settings.max_page,
                                         self.collections)
            self.cursor = service.cursors.decode(self.space, page.cursor)
            if page.count or not live:
                await self.conn.outbound.put(
                    page.body(type="changes", space=self.space, live=live).decode())
            if not page.more:
                return

    async def _send_live(self, published: Published) -> None:
        text = self._render_live(published)
        if text is not None:
            await self.conn.outbound.put(text)  # waits for room: backpressure

    def _queue_live(self, published: Published) -> None:
        text = self._render_live(published)
        if text is not None:
            self.conn.outbound.put_nowait(text)

    def _render_live(self, published: Published) -> str | None:
        text = published.message(self.filter, self.conn.service.encode_cursor)
        self.cursor = published.head
        if text is not None:
            self.conn.service.metrics.changes_served.inc(len(published.records))
        return text


async def endpoint(websocket: WebSocket) -> None:
    await Connection(websocket, websocket.app.state.service).run()
