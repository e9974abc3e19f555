"""The connection protocols of `syncserver serve`: uvicorn's, with what a server facing
hostile clients needs at the socket level (docs/deployment.md).

- Header timeout (slowloris): uvicorn closes a keep-alive connection idle after a response
  (`timeout_keep_alive`), but sets no deadline for the request headers themselves, nor for
  a connection that never sends a byte. Here every request gets `header_timeout` seconds
  from the connection's opening (or from the first byte of a later request on it) to the
  end of its headers; past it the connection is closed. The body has its own deadline at
  the ASGI level (http_api.read_json: 408 request_timeout).
- Header size (`max_header_bytes`, `max_headers`): neither uvicorn nor httptools bounds a
  request's head; one endless header grew the server by the size sent. Raw bytes are
  counted as they arrive (httptools buffers a header's value until it ends), so a head
  past the limit is answered `431 headers_too_large` and closed after one more read.
- Open connections in all (`max_open`, below the file-descriptor limit: cli.py): past it a
  new connection is answered `503 server_busy` at once and closed, so the server never
  reaches the limit where it can accept nobody and falls silent.
- An abort for the application (sending.ABORT): a client that does not read its answer is
  dropped with its unsent bytes; a plain close would keep them until they drain.
- A WebSocket read is parsed only as far as the application reads messages (below).
- A live frame encoded once for all its subscribers is written as is (sending.WRITE_FRAME):
  uvicorn's send would encode the same text again for every socket.
- Deadlines (headers, pings) are spread (limits.spread): connections opened together do
  not all time out in one turn of the event loop.
- A WebSocket whose keep-alive ping is not answered is aborted, not closed: a close waits
  for the unread frames to drain first, which a client that reads nothing never lets
  happen (uvicorn's close kept such connections, and their buffers, for ever).

Subclasses of uvicorn's protocol classes, because uvicorn has no public way to do any of
this: its Config offers a header size bound for h11 only (h11_max_incomplete_event_size),
no header deadline, and `limit_concurrency` answers 503 only once a request's headers are in.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from ..guard.limits import FULL_RETRY_AFTER_SECONDS, spread
from ..model.errors import ErrorCode, SyncError
from .sending import ABORT, DRAINED, IGNORE_INPUT, WRITE_FRAME
from .ws.lean import LeanEvent, LeanQueue

FEED = 4_096  # bytes of a WebSocket read parsed at a time
# The kernel's send buffer of a WebSocket: Linux grows it up to 4 MB per socket, so a
# client that reads nothing had the server read, render and copy 4 MB of pages into its
# socket before it counted as stalled (1,000 of them: 4 GB of kernel memory, and the CPU
# to fill it, measured with load/hostile.py). 512 KB still fills a 40 Mbit/s link with
# 100 ms of round trip (the kernel doubles the value asked for).
SEND_BUFFER = 262_144


class OpenConnections:
    """Client connections open now (HTTP, then WebSocket once upgraded)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0


def _answer(status: bytes, error: SyncError, *headers: bytes) -> bytes:
    """A whole problem+json answer, written by the protocol itself before the connection
    closes (no application behind it: the request never reached one)."""
    body = orjson.dumps(error.body())
    return (b"HTTP/1.1 %s\r\ncontent-type: application/problem+json\r\n%s"
            b"x-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n"
            % (status, b"".join(h + b"\r\n" for h in headers), len(body))) + body


def _busy_answer(capacity: int) -> bytes:
    return _answer(b"503 Service Unavailable", SyncError(
        ErrorCode.SERVER_BUSY, f"the server holds its most open connections ({capacity}, "
        "SYNCSERVER_MAX_OPEN_CONNECTIONS): retry later",
        retry_after=FULL_RETRY_AFTER_SECONDS), b"retry-after: %d" % FULL_RETRY_AFTER_SECONDS)


def _too_large(what: str) -> bytes:
    return _answer(b"431 Request Header Fields Too Large",
                   SyncError(ErrorCode.HEADERS_TOO_LARGE, what))


@dataclass(frozen=True)
class HeaderLimits:
    timeout: float  # seconds to send a request's headers (SYNCSERVER_HEADER_TIMEOUT)
    max_bytes: int  # of the request line and headers (SYNCSERVER_MAX_HEADER_BYTES)
    max_count: int  # header fields (SYNCSERVER_MAX_HEADERS)


def protocols(limits: HeaderLimits, open_connections: OpenConnections
              ) -> tuple[type[HttpToolsProtocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn.Config(http=..., ws=...)."""
    busy = _busy_answer(open_connections.capacity)
    too_many_bytes = _too_large(
        f"the request line and headers are larger than {limits.max_bytes} bytes "
        "(SYNCSERVER_MAX_HEADER_BYTES)")
    too_many_headers = _too_large(
        f"the request has more than {limits.max_count} header fields (SYNCSERVER_MAX_HEADERS)")

    class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
        _backlog = b""
        _ignoring = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # Held for the connection's life: without asyncio's containers made up front
            # (ws/lean.py: 4 KB of an idle connection).
            self.queue = LeanQueue()  # type: ignore[assignment]
            self.writable = LeanEvent()  # type: ignore[assignment]
            self.writable.set()

        async def send(self, message: Any) -> None:
            await super().send(message)
            if message["type"] == "websocket.accept" and self.handshake_complete:
                # uvicorn keeps the handshake's request and response (their headers,
                # ~3 KB) for the connection's life; nothing reads them once it is answered.
                self.__dict__.pop("request", None)
                self.__dict__.pop("response", None)

        def _ignore_input(self) -> None:
            self._ignoring = True
            self._backlog = b""

        def data_received(self, data: bytes) -> None:
            if self._ignoring:
                return
            if self._backlog or (self.read_paused and not self.close_sent):
                self._backlog += data
            else:
                self._feed(data)

        def _feed(self, data: bytes) -> None:
            """Parse `data` a piece at a time, and keep what follows the first whole
            message as raw bytes until the application asks for the next one. uvicorn
            parses a whole read (up to 256 KB) at once: thousands of small frames from a
            flooding client became thousands of queued messages (1.2 MB per connection)
            and seconds of parsing that held up every other client."""
            for start in range(0, len(data), FEED):
                super().data_received(data[start:start + FEED])
                if self.read_paused and not self.close_sent:
                    self._backlog = data[start + FEED:]
                    return

        async def receive(self) -> Any:
            message = await self.queue.get()
            if self.queue.empty() and self._backlog:
                backlog, self._backlog = self._backlog, b""
                self._feed(backlog)
            if self.read_paused and self.queue.empty() and not self._backlog:
                self.read_paused = False
                self.transport.resume_reading()
            return message

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:  # see SEND_BUFFER
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if scope is not None:  # accepted: the app may drop it
                scope["extensions"][ABORT] = self.transport.abort
                scope["extensions"][IGNORE_INPUT] = self._ignore_input
                scope["extensions"][DRAINED] = self.writable.wait
                scope["extensions"][WRITE_FRAME] = self._write_frame

        def _write_frame(self, frame: bytes) -> bool:
            """Write an encoded server frame as is (the live fan-out's, shared by every
            subscriber: ws/wire.py), when uvicorn's own send would write it now, unchanged:
            the connection open, nothing sent past its close, no extension to transform it
            (per-message deflate compresses per connection), and its transport taking
            writes (below the high-water mark; else the ASGI send waits for room). False:
            nothing was written, the caller sends the text through ASGI."""
            if (self.close_sent or self.disconnected or self.conn.extensions
                    or self.conn.state is not State.OPEN or not self.writable.is_set()
                    or self.transport.is_closing()):
                return False
            self.transport.write(frame)
            return True

        def schedule_ping(self) -> None:  # (uvicorn's, with the deadline spread)
            assert self.ping_interval is not None
            delay = max(0.0, spread(self.ping_interval) - self.last_ping_rtt)
            self.ping_timer = self.loop.call_later(delay, self.send_keepalive_ping)

        def keepalive_timeout(self) -> None:
            super().keepalive_timeout()
            self.transport.abort()

        def connection_lost(self, exc: Exception | None) -> None:
            open_connections.count -= 1  # counted when it opened as HTTP
            super().connection_lost(exc)

    class GuardedHttpProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted = False
        # The request head (line and headers) being received: httptools keeps a header's
        # value to itself until it is whole, so a header that never ends is measured in
        # raw bytes received, not in what the parser hands over.
        _in_head = True  # from the end of a request (or the connection's start) to the
        #                  end of the next one's headers
        _heads = 0  # heads completed on this connection
        _head_bytes = 0  # raw bytes received for the current head
        _head_seen = 0  # bytes of it the parser handed over (URL, whole header lines)
        _head_fields = 0
        _refused = False  # answered 431: what follows is not parsed

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if open_connections.count >= open_connections.capacity:
                transport.write(busy)
                transport.close()
                return
            open_connections.count += 1
            self._counted = True
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted:
                self._counted = False
                open_connections.count -= 1
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            # While a head is being received, the parser is fed no more than the room left
            # under the limit (plus one byte, to tell): it keeps an unfinished header in
            # memory, so a read of 256 KB from a flooding client is never all held.
            view = memoryview(data)
            while view and not self._refused and self.transport.get_protocol() is self:
                room = limits.max_bytes + 1 - self._head_bytes if self._in_head else len(view)
                self._feed(view[:room])
                view = view[room:]

        def _feed(self, data: memoryview) -> None:
            in_head, heads = self._in_head, self._heads
            super().data_received(data)  # type: ignore[arg-type]  # httptools takes buffers
            if self._refused or not self._in_head:
                return
            if in_head and heads == self._heads:
                self._head_bytes += len(data)  # all of it belongs to this head
            else:  # this head began inside the read, after another request's body
                self._head_bytes = self._head_seen
            if self._head_bytes > limits.max_bytes:
                self._refuse(too_many_bytes)

        def handle_websocket_upgrade(self) -> None:
            if self._refused:
                return
            # The connection is the WebSocket protocol's from now on: it gives back the
            # count when it ends.
            self._disarm()
            self._counted = False
            super().handle_websocket_upgrade()

        def on_message_begin(self) -> None:
            if self._refused:
                return
            super().on_message_begin()
            self._head_seen = self._head_fields = 0
            if self._header_timer is None:
                self._arm()

        def on_url(self, url: bytes) -> None:
            if not self._refused:
                self._head_seen += len(url)
                super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._head_seen += len(name) + len(value) + 4  # ": " and CRLF
            self._head_fields += 1
            if not self._refused and self._head_fields <= limits.max_count:
                super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if self._refused:
                return
            self._in_head = False
            self._heads += 1
            self._disarm()
            if self._head_fields > limits.max_count:
                self._refuse(too_many_headers)
                return
            if self._head_seen > limits.max_bytes:
                self._refuse(too_many_bytes)
                return
            self.scope["extensions"] = {ABORT: self.transport.abort}  # type: ignore[dict-item]
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self._refused:
                super().on_body(body)

        def on_message_complete(self) -> None:
            if self._refused:
                return
            self._in_head = True
            self._head_bytes = 0
            super().on_message_complete()

        def _refuse(self, answer: bytes) -> None:
            """431, then close: the rest of what the client sent is never parsed."""
            self._refused = True
            self._disarm()
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(answer)
            # else an earlier request's answer is under way: it is not interrupted by
            # another, and the connection ends with it
            self.transport.close()

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(spread(limits.timeout), self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedHttpProtocol, GuardedWebSocketProtocol
