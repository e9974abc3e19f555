"""The frames a WebSocket client sends: read one at a time, each handed to what answers
its type (`ping`, `hello`, `subscribe`, `unsubscribe`, `push`).

A frame that is not a JSON object, or not a valid request, closes the connection (4400;
1003 for a binary frame). Any other refusal is an `error` frame, and the connection goes
on; so does an unexpected failure (`internal_error`, naming the frame's space or
request_id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from ...core.service import SyncService
from ...guard.guard import Guard
from ...model import exact_json
from ...model.errors import ErrorCode, SyncError
from .authentication import Authentication
from .closes import CLOSE_BAD_FRAME, CLOSE_UNSUPPORTED, error_frame
from .outbox import Outbox, Outgoing
from .subscribe import Subscriptions

log = logging.getLogger("syncserver")

# Errors that end the connection, told to the client first: its token, or its frame.
AUTH_ERRORS = (ErrorCode.UNAUTHORIZED, ErrorCode.TOO_MANY_CONNECTIONS)
FRAME_ERRORS = (ErrorCode.INVALID_REQUEST, ErrorCode.MALFORMED_JSON)
# A push that fails says which one (its request_id): the client may have several in flight.
PUSH_ERRORS = (ErrorCode.STORAGE_UNAVAILABLE, ErrorCode.FORBIDDEN, ErrorCode.BATCH_TOO_LARGE)


class Frames:
    __slots__ = ("ws", "service", "guard", "outbox", "auth", "subscriptions", "on_hello",
                 "frame_bytes")

    def __init__(self, ws: WebSocket, service: SyncService, guard: Guard, outbox: Outbox,
                 auth: Authentication, subscriptions: Subscriptions,
                 on_hello: Callable[[object], None] = lambda client_id: None) -> None:
        self.ws = ws
        self.on_hello = on_hello  # the hello's client id, once it is answered
        self.service = service
        self.guard = guard
        self.outbox = outbox
        self.auth = auth
        self.subscriptions = subscriptions
        self.frame_bytes = 0  # the size of the frame being handled

    async def receive(self) -> None:
        """Read and handle frames until the connection closes (WebSocketDisconnect when
        the client goes first)."""
        while self.outbox.closing is None:
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
                await self.dispatch(frame)
                # One connection's burst of frames (read from the socket at once) must not
                # hold the loop: every other client waits meanwhile.
                await asyncio.sleep(0)
            except orjson.JSONDecodeError as exc:
                self._bad_frame(CLOSE_BAD_FRAME, "bad frame", ErrorCode.MALFORMED_JSON.value,
                                f"the frame is not JSON: {exc}")
            except SyncError as exc:
                if exc.code in AUTH_ERRORS:
                    self.auth.failed(exc)
                elif exc.code in FRAME_ERRORS:
                    self._bad_frame(CLOSE_BAD_FRAME, "bad frame", exc.code.value, exc.detail)
                else:
                    await self.outbox.send(error_frame(exc.code.value, exc.detail,
                                                       **exc.extra))
            except Exception:  # a bug: this request fails, the connection goes on
                log.exception("unexpected error handling a WebSocket frame")
                about = {k: frame[k] for k in ("space", "request_id")
                         if isinstance(frame, dict) and isinstance(frame.get(k), (str, int))}
                await self.outbox.send(error_frame(
                    ErrorCode.INTERNAL_ERROR.value,
                    "an unexpected server error while handling this frame", **about))

    def _bad_frame(self, close_code: int, reason: str, code: str, detail: str) -> None:
        self.outbox.close_after(close_code, reason, error_frame(code, detail))

    async def dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        self.auth.check(kind)
        if kind == "ping":
            await self.outbox.send({"type": "pong"})
        elif kind == "hello":
            await self.auth.hello(frame)
            self.on_hello(frame.get("client_id"))
        elif kind == "subscribe":
            await self.subscriptions.subscribe(frame, self.auth.access)
        elif kind == "unsubscribe":
            self.subscriptions.unsubscribe(frame)
        elif kind == "push":
            await self._push(frame)
        else:
            raise SyncError(ErrorCode.INVALID_REQUEST, f"unknown message type {kind!r}")

    async def _push(self, frame: dict[str, Any]) -> None:
        """A `push` frame: the same batch as POST /v1/push, answered by a `push_result`
        carrying its `request_id`."""
        request_id = frame.get("request_id")
        if request_id is not None and not isinstance(request_id, (str, int)):
            raise SyncError(ErrorCode.INVALID_REQUEST, "request_id must be a string")
        access = self.auth.access
        self.guard.spend(access, {"request_id": request_id})  # 429 past the rate
        limit = self.service.settings.max_batch_bytes
        try:
            if self.frame_bytes > limit:  # the same bound as a push over HTTP
                raise SyncError(ErrorCode.BATCH_TOO_LARGE,
                                f"the push frame is {self.frame_bytes} characters; the "
                                f"limit is {limit} (SYNCSERVER_MAX_BATCH_BYTES): split "
                                "the batch")
            body = await self.service.push(frame, access)
        except SyncError as exc:  # the error frame says which push it answers
            if exc.code not in PUSH_ERRORS:
                raise
            raise SyncError(exc.code, exc.detail, **exc.extra,
                            request_id=request_id) from None
        head = b'{"type":"push_result","request_id":' + orjson.dumps(request_id) + b","
        await self.outbox.put(Outgoing((head + body[1:]).decode()))
