"""The connection protocols of `syncserver serve`: uvicorn's, with what a server facing
hostile clients needs at the socket level (docs/deployment.md).

- Header timeout (slowloris): uvicorn closes a keep-alive connection idle after a response
  (`timeout_keep_alive`), but sets no deadline for the request headers themselves, nor for
  a connection that never sends a byte. Here every request gets `header_timeout` seconds
  from the connection's opening (or from the first byte of a later request on it) to the
  end of its headers; past it the connection is closed. The body has its own deadline at
  the ASGI level (http_api.read_json: 408 request_timeout).
- Open connections in all (`max_open`, below the file-descriptor limit: cli.py): past it a
  new connection is answered `503 server_busy` at once and closed, so the server never
  reaches the limit where it can accept nobody and falls silent.
- An abort for the application (sending.ABORT): a client that does not read its answer is
  dropped with its unsent bytes; a plain close would keep them until they drain.
- A WebSocket read is parsed only as far as the application reads messages (below).
- Deadlines (headers, pings) are spread (limits.spread): connections opened together do
  not all time out in one turn of the event loop.
- A WebSocket whose keep-alive ping is not answered is aborted, not closed: a close waits
  for the unread frames to drain first, which a client that reads nothing never lets
  happen (uvicorn's close kept such connections, and their buffers, for ever).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .errors import ErrorCode, SyncError
from .limits import FULL_RETRY_AFTER_SECONDS, spread
from .sending import ABORT, DRAINED, IGNORE_INPUT

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


def _busy_answer(capacity: int) -> bytes:
    body = orjson.dumps(SyncError(
        ErrorCode.SERVER_BUSY, f"the server holds its most open connections ({capacity}, "
        "SYNCSERVER_MAX_OPEN_CONNECTIONS): retry later",
        retry_after=FULL_RETRY_AFTER_SECONDS).body())
    return (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n"
            b"retry-after: %d\r\nx-content-type-options: nosniff\r\nreferrer-policy: "
            b"no-referrer\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
            % (FULL_RETRY_AFTER_SECONDS, len(body))) + body


def protocols(header_timeout: float, open_connections: OpenConnections
              ) -> tuple[type[HttpToolsProtocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn.Config(http=..., ws=...)."""
    busy = _busy_answer(open_connections.capacity)

    class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
        _backlog = b""
        _ignoring = False

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

        def handle_websocket_upgrade(self) -> None:
            # The connection is the WebSocket protocol's from now on: it gives back the
            # count when it ends.
            self._disarm()
            self._counted = False
            super().handle_websocket_upgrade()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            self.scope["extensions"] = {ABORT: self.transport.abort}  # type: ignore[dict-item]
            super().on_headers_complete()

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(spread(header_timeout), self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedHttpProtocol, GuardedWebSocketProtocol
