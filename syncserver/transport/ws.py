"""The WebSocket channel: subscriptions (catch-up pages, then live changes) and push.

Flow control: one sender task per connection drains a small outbound queue, bounded in
frames and in bytes (SYNCSERVER_WS_MAX_QUEUED_BYTES, every frame counted until it is written
to the socket). Catch-up pages and replies wait for room in it (natural backpressure). Live
batches wait in a per-subscription list bounded in batches (SYNCSERVER_WS_QUEUE) and, over
the connection, in bytes (the same budget); when either overflows the consumer is too
slow: every subscription of the connection is stopped, and the client is told to resync
each of them from the cursor it last received, then the connection is closed (rather than
buffered without bound).

Each queued frame remembers the subscription and the feed position it carries; the sender
notes the position once the frame is sent, so a resync names the last cursor the client
actually got, whatever was still queued and dropped.

A client that takes no frame for SYNCSERVER_SEND_TIMEOUT seconds is dropped (its socket
aborted with what it left unread: a close would wait for that to drain), and one that
keeps subscribing past SYNCSERVER_WS_MAX_SUBSCRIPTIONS is closed (1008) and no longer
read. Catch-up pages are charged to the page pool until they left our buffers
(subscription.py). Subscriptions live in subscription.py.

A failure inside one subscription ends that subscription only, with an `error` frame
naming its space; the connection and its other subscriptions go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..core.service import SyncService, check_space
from ..guard.auth import subprotocol_token
from ..guard.guard import Guard
from ..guard.limits import FULL_RETRY_AFTER_SECONDS, ByteBudget, spread
from ..guard.permissions import Access, forbidden_space
from ..model import exact_json
from ..model.errors import ErrorCode, SyncError, problem_response
from ..model.version import PROTOCOL_VERSION
from .http_api import parse_collections
from .sending import DRAINED, abort, ignore_input
from .subscription import Outgoing, Subscription, resync_required

log = logging.getLogger("syncserver")

CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008  # policy violation: subscribe frames past the limit, again and again
CLOSE_BAD_FRAME = 4400
CLOSE_SLOW_CONSUMER = 4408
CLOSE_UNAUTHORIZED = 4401  # auth on: no valid hello, a refused token, or the token expired
CLOSE_TOO_MANY_CONNECTIONS = 4429  # auth on: the user holds SYNCSERVER_MAX_USER_CONNECTIONS
OUTBOUND_QUEUE = 8
REFUSALS_BEFORE_CLOSE = 3  # too_many_subscriptions answers before the connection is closed


class Connection:
    def __init__(self, websocket: WebSocket, service: SyncService, guard: Guard) -> None:
        self.ws = websocket
        self.service = service
        self.guard = guard
        self.outbound: asyncio.Queue[Outgoing | None] = asyncio.Queue(OUTBOUND_QUEUE)
        self.subscriptions: dict[str, Subscription] = {}
        self.closing: tuple[int, str] | None = None
        self._farewell: Callable[[], list[dict[str, Any]]] = list
        self.sender: asyncio.Task[None] | None = None
        self.access: Access | None = None  # auth on: what the hello's token grants
        self.counted: str | None = None  # the user whose connections this one counts in
        self.expiry: asyncio.TimerHandle | None = None
        self.queued = ByteBudget(service.settings.ws_max_queued_bytes)
        self._pending_bytes = 0  # live batches held by this connection's subscriptions
        self.frame_bytes = 0  # the size of the frame being handled
        # One catch-up page read at a time per connection: its subscriptions together
        # hold at most one page beyond the connection's byte budget.
        self.catching_up = asyncio.Lock()
        self.pool_held = 0  # page-pool bytes of the frame last handed to the socket
        self.refusals = 0  # subscriptions refused for the per-connection limit
        # Tasks of its own beside the sender, referenced until they end: the event loop
        # holds tasks only weakly (one could be collected mid-flight).
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @pending_bytes.setter
    def pending_bytes(self, value: int) -> None:
        self.service.metrics.ws_pending_bytes.inc(value - self._pending_bytes)
        self._pending_bytes = value

    async def send(self, message: dict[str, Any]) -> None:
        await self.put((orjson.dumps(message).decode(), None, 0, 0))

    async def put(self, item: Outgoing) -> None:
        """Queue a frame, waiting for room (frames and bytes)."""
        await self.queued.reserve(len(item[0]))
        await self.outbound.put(item)

    def put_now(self, item: Outgoing) -> None:
        """Queue a frame that fits now (the live fast path checked it)."""
        self.outbound.put_nowait(item)
        self.queued.take(len(item[0]))

    async def run(self) -> None:
        # A token may come as the subprotocol "bearer.<jwt>" beside "syncserver.v2": the
        # answer selects "syncserver.v2", never the token (the handshake would echo it).
        selected, token = subprotocol_token(list(self.ws.scope.get("subprotocols") or []))
        await self.ws.accept(subprotocol=selected)
        self.service.metrics.ws_connections.inc()
        sender = self.sender = asyncio.create_task(self._sender())
        notifier = self.service.notifier
        notifier.on_shutdown(self.going_away)
        try:
            if notifier.closing:
                await self.going_away()
            if token is not None and self.guard.auth.enabled:
                try:
                    await self._authenticate(token)
                except SyncError as exc:
                    self._auth_failed(exc)
            await self._receive_loop()
        except WebSocketDisconnect:
            pass
        finally:
            notifier.off_shutdown(self.going_away)
            if self.expiry is not None:
                self.expiry.cancel()
            for sub in list(self.subscriptions.values()):
                sub.stop()
            if self.counted is not None:
                self.guard.user_connections.leave(self.counted)
            self.service.metrics.ws_connections.dec()
            if self.closing is None:
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            self._drop_queued()  # their page-pool bytes go back

    async def _sender(self) -> None:
        timeout = spread(self.service.settings.send_timeout)
        drained: Callable[[], Awaitable[Any]] | None = \
            self.ws.scope.get("extensions", {}).get(DRAINED)
        try:
            while True:
                item = await self.outbound.get()
                if item is None:
                    break
                text, sub, seq, held = item
                try:
                    # A client that takes nothing for `timeout` seconds is dropped, with
                    # what it left unread (a close would wait for it to drain: for ever).
                    async with asyncio.timeout(timeout):
                        await self.ws.send({"type": "websocket.send", "text": text})
                        if drained is not None and held:  # the page left our buffers
                            await drained()
                except TimeoutError:
                    self._stalled(held)
                    return
                if drained is not None:
                    self.guard.pages.give_back(held)
                else:  # (another server) the next send waits for this frame to drain
                    self.guard.pages.give_back(self.pool_held)
                    self.pool_held = held
                self.queued.release(len(text))
                if sub is not None:
                    sub.delivered = seq
        finally:
            self.guard.pages.give_back(self.pool_held)
            self.pool_held = 0
        # Rendered only now, after the last queued frame went out: a resync names the
        # cursor the client holds.
        try:
            async with asyncio.timeout(timeout):
                for message in self._farewell():
                    await self.ws.send({"type": "websocket.send",
                                        "text": orjson.dumps(message).decode()})
                code, reason = self.closing or (1000, "")
                await self.ws.close(code, reason)
        except TimeoutError:
            self._stalled(0)

    def _stalled(self, held: int) -> None:
        """The client took nothing for SYNCSERVER_SEND_TIMEOUT seconds: drop it."""
        self.service.metrics.ws_slow_consumers.inc()
        self.guard.pages.give_back(held)
        if self.closing is None:
            self.closing = (CLOSE_SLOW_CONSUMER, "slow consumer")
        for sub in list(self.subscriptions.values()):
            sub.stop()
        self._drop_queued()
        ignore_input(self.ws.scope)
        self._spawn(abort(self.ws.scope))

    def _drop_queued(self) -> None:
        while not self.outbound.empty():
            item = self.outbound.get_nowait()
            if item is not None:
                self.queued.release(len(item[0]))
                self.guard.pages.give_back(item[3])

    def close(self, code: int, reason: str,
              farewell: Callable[[], list[dict[str, Any]]], drop_queued: bool = False) -> None:
        """Stop every subscription, then send what is queued (or drop it), the farewell
        messages and a close frame; the receive loop stops."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        self._farewell = farewell
        # Stopped before anything is dropped: no subscription queues a frame after a gap.
        for sub in list(self.subscriptions.values()):
            sub.stop()
        if drop_queued:
            self._drop_queued()
        try:
            self.outbound.put_nowait(None)
        except asyncio.QueueFull:  # the receive loop's own close: room comes as frames go
            self._spawn(self.outbound.put(None))

    async def going_away(self) -> None:
        """The server is stopping: close with 1001 now. Frames still queued are dropped:
        the client resumes from the last cursor it received and replays unanswered
        pushes (both harmless), and the close is not held up behind them."""
        self.close(CLOSE_GOING_AWAY, "server shutting down", list, drop_queued=True)
        if self.sender is not None:
            await asyncio.wait([self.sender])

    def slow_consumer(self) -> None:
        self.service.metrics.ws_slow_consumers.inc()
        subs = list(self.subscriptions.values())
        # What is queued is dropped: each resync names the cursor the client last received.
        self.close(CLOSE_SLOW_CONSUMER, "slow consumer",
                   lambda: [sub.resync_message() for sub in subs], drop_queued=True)

    async def _receive_loop(self) -> None:
        while self.closing is None:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            text = message.get("text")
            if text is None:
                self._bad_frame(CLOSE_UNSUPPORTED, "binary frames are not supported",
                                "unsupported_frame", "send JSON text frames")
                return
            frame: object = None
            self.frame_bytes = len(text)
            try:
                frame = exact_json.loads(text)  # integers past 64 bits: see exact_json
                if not isinstance(frame, dict):
                    raise SyncError(ErrorCode.INVALID_REQUEST, "a frame is a JSON object")
                await self._dispatch(frame)
                # One connection's burst of frames (read from the socket at once) must not
                # hold the loop: every other client waits meanwhile.
                await asyncio.sleep(0)
            except orjson.JSONDecodeError as exc:
                self._bad_frame(CLOSE_BAD_FRAME, "bad frame", ErrorCode.MALFORMED_JSON.value,
                                f"the frame is not JSON: {exc}")
            except SyncError as exc:
                if exc.code in (ErrorCode.UNAUTHORIZED, ErrorCode.TOO_MANY_CONNECTIONS):
                    self._auth_failed(exc)
                elif exc.code in (ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON):
                    self._bad_frame(CLOSE_BAD_FRAME, "bad frame", exc.code.value, exc.detail)
                else:
                    await self.send({"type": "error", "code": exc.code.value,
                                     "detail": exc.detail, **exc.extra})
            except Exception:  # a bug: this request fails, the connection goes on
                log.exception("unexpected error handling a WebSocket frame")
                about = {k: frame[k] for k in ("space", "request_id")
                         if isinstance(frame, dict) and isinstance(frame.get(k), (str, int))}
                await self.send({"type": "error", "code": ErrorCode.INTERNAL_ERROR.value,
                                 "detail": "an unexpected server error while handling "
                                           "this frame", **about})

    def _auth_failed(self, exc: SyncError) -> None:
        if exc.code == ErrorCode.TOO_MANY_CONNECTIONS:
            # The user holds its most connections: told so (with retry_after), then closed.
            message = {"type": "error", "code": exc.code.value, "detail": exc.detail,
                       **exc.extra}
            self.close(CLOSE_TOO_MANY_CONNECTIONS, "too many connections", lambda: [message],
                       drop_queued=True)
        else:
            self._refuse(exc.detail)

    def _refuse(self, detail: str) -> None:
        """Auth on: no valid token (any more). The client gets an `unauthorized` error
        frame, then close 4401; nothing queued after it is sent."""
        message = {"type": "error", "code": ErrorCode.UNAUTHORIZED.value, "detail": detail}
        self.close(CLOSE_UNAUTHORIZED, "unauthorized", lambda: [message], drop_queued=True)

    def _expired(self) -> None:
        self._refuse("the token expired: send a hello with a new token before it expires, "
                     "or reconnect with one")

    async def _authenticate(self, token: object) -> None:
        """A hello's token (or the subprotocol's): verify it, then re-check what it grants
        against every live subscription (a re-authentication may grant less)."""
        access = await self.guard.auth.access(token if isinstance(token, str) else None)
        if self.access is not None and access.sub != self.access.sub:
            raise SyncError(ErrorCode.UNAUTHORIZED, "a hello on an open socket must carry a "
                            "token of the same user: reconnect to change users")
        if self.counted is None:  # the first token of this socket: it counts for its user
            if not self.guard.user_connections.enter(access.sub):
                raise self.guard.connection_refused()
            self.counted = access.sub
        self.access = access
        if self.expiry is not None:
            self.expiry.cancel()
        delay = access.expires_at + self.guard.auth.verifier.leeway - time.time()
        self.expiry = asyncio.get_running_loop().call_later(max(delay, 0.0), self._expired)
        for space, sub in list(self.subscriptions.items()):
            if not access.can_read(space):
                sub.stop()
                del self.subscriptions[space]
                error = forbidden_space(space)
                await self.send({"type": "error", "code": error.code.value,
                                 "detail": error.detail + ": the subscription ended",
                                 **error.extra})

    def _bad_frame(self, close_code: int, reason: str, code: str, detail: str) -> None:
        message = {"type": "error", "code": code, "detail": detail}
        self.close(close_code, reason, lambda: [message])

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if self.guard.auth.enabled and kind != "hello" and kind != "ping":
            if self.access is None:
                raise SyncError(ErrorCode.UNAUTHORIZED, "send a hello with a token first: "
                                '{"type": "hello", "token": "<jwt>"}')
            if self.access.expires_at + self.guard.auth.verifier.leeway < time.time():
                raise SyncError(ErrorCode.UNAUTHORIZED, "the token expired")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "hello":
            welcome: dict[str, Any] = {"type": "welcome", "protocol": PROTOCOL_VERSION}
            if self.guard.auth.enabled:
                if "token" in frame or self.access is None:
                    await self._authenticate(frame.get("token"))
                assert self.access is not None
                welcome.update(sub=self.access.sub, expires_at=int(self.access.expires_at))
            await self.send(welcome)
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
            self.guard.spend(self.access, {"request_id": request_id})  # 429 past the rate
            limit = self.service.settings.max_batch_bytes
            try:
                if self.frame_bytes > limit:  # the same bound as a push over HTTP
                    raise SyncError(ErrorCode.BATCH_TOO_LARGE,
                                    f"the push frame is {self.frame_bytes} characters; the "
                                    f"limit is {limit} (SYNCSERVER_MAX_BATCH_BYTES): split "
                                    "the batch")
                body = await self.service.push(frame, self.access)
            except SyncError as exc:  # the error frame says which push it answers
                if exc.code not in (ErrorCode.STORAGE_UNAVAILABLE, ErrorCode.FORBIDDEN,
                                    ErrorCode.BATCH_TOO_LARGE):
                    raise
                raise SyncError(exc.code, exc.detail, **exc.extra,
                                request_id=request_id) from None
            head = b'{"type":"push_result","request_id":' + orjson.dumps(request_id) + b","
            await self.put(((head + body[1:]).decode(), None, 0, 0))
        else:
            raise SyncError(ErrorCode.INVALID_REQUEST, f"unknown message type {kind!r}")

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        space = check_space(frame.get("space"))
        self.guard.spend(self.access, {"space": space})  # refused: nothing changes
        if self.access is not None:
            self.access.require_read(space)  # an error frame naming the space
        cursor = frame.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise SyncError(ErrorCode.BAD_CURSOR, "cursor must be a string", space=space)
        settings = self.service.settings
        collections = parse_collections(frame.get("collections"),
                                        settings.max_filter_collections)
        try:
            since = self.service.cursors.decode(space, cursor)
        except SyncError as exc:
            if exc.code == ErrorCode.RESYNC_REQUIRED:
                await self.send(resync_required(space, exc.detail))
                return
            raise SyncError(exc.code, exc.detail, space=space) from None
        if space not in self.subscriptions \
                and len(self.subscriptions) >= settings.ws_max_subscriptions:
            self.refusals += 1
            if self.refusals > REFUSALS_BEFORE_CLOSE:  # a flood, not a client that listens
                ignore_input(self.ws.scope)  # what it sent on is not even parsed
                self._bad_frame(CLOSE_POLICY, "too many subscriptions",
                                ErrorCode.TOO_MANY_SUBSCRIPTIONS.value,
                                f"{self.refusals} subscriptions refused on this connection: "
                                "it is closed; unsubscribe before subscribing past "
                                "SYNCSERVER_WS_MAX_SUBSCRIPTIONS")
                return
            raise SyncError(ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                            f"this connection has {len(self.subscriptions)} subscriptions, "
                            "the most one connection may hold "
                            "(SYNCSERVER_WS_MAX_SUBSCRIPTIONS): unsubscribe first, or open "
                            "another connection", space=space)
        old = self.subscriptions.pop(space, None)
        if old is not None:
            old.stop()
        self.subscriptions[space] = Subscription(self, space, since, collections)


async def endpoint(websocket: WebSocket) -> None:
    service: SyncService = websocket.app.state.service
    guard: Guard = websocket.app.state.guard
    if not guard.connections.enter():
        # Full (SYNCSERVER_MAX_CONNECTIONS): refused before the handshake completes, so a
        # client backs off and retries instead of taking a socket it would lose at once.
        error = SyncError(ErrorCode.SERVER_BUSY,
                          f"the server holds its most WebSocket connections "
                          f"({guard.connections.capacity}): retry later",
                          retry_after=FULL_RETRY_AFTER_SECONDS)
        await websocket.send_denial_response(problem_response(error))
        return
    try:
        await Connection(websocket, service, guard).run()
    finally:
        guard.connections.leave()
