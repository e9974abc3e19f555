"""WebSocket transports for simulated clients.

``raw`` (the default) is a minimal RFC 6455 client on an ``asyncio.Protocol``: frames are
parsed in ``data_received`` and handed to the client synchronously. Measured with 1,000
subscribers in one process, the ``websockets`` library's per-message path (assembler,
queues, a task wake-up per frame) made the whole tool cost ~23 us of CPU per delivered
change against ~14 us with this transport, and saturated the tool's core before the
server's at 50 writes/s; with this one the server saturates first. ``websockets`` stays available
(``--ws-client websockets``) as an independent implementation to cross-check against.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from typing import Callable, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

OnMessage = Callable[[bytes | str], None]


class WsTransport(Protocol):
    closed: asyncio.Future[int | None]  # the close code once the connection has ended

    async def send(self, text: str) -> None: ...

    async def close(self) -> None: ...


def _mask(payload: bytes) -> bytes:
    """Client frames must be masked (RFC 6455 5.3); XOR as one big integer, no byte loop."""
    key = os.urandom(4)
    n = len(payload)
    if not n:
        return key
    stream = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return key + masked.to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A client's frame (masked, RFC 6455 5.2-5.3) of one whole message."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _mask(payload)


class RawWs(asyncio.Protocol):
    def __init__(self, on_message: OnMessage) -> None:
        self.on_message = on_message
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[int | None] = loop.create_future()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self.opened.done():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buffer[:end]).split(b"\r\n", 1)[0]
            del self._buffer[: end + 4]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(ConnectionError(f"handshake refused: {status!r}"))
                self._abort(None)
                return
            self.opened.set_result(None)
        self._parse()

    def _parse(self) -> None:
        buf = self._buffer
        while len(buf) >= 2:
            opcode, length, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, pos = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            fin = buf[0] & 0x80
            del buf[: pos + length]  # CPython trims a bytearray's head in O(1)
            self._frame(opcode, fin, payload)

    def _frame(self, opcode: int, fin: int, payload: bytes) -> None:
        if opcode in (0, 1, 2):
            self._fragments.append(payload)
            if fin:
                message, self._fragments = b"".join(self._fragments), []
                self.on_message(message)
        elif opcode == 8:  # close: answer it, then the server closes the TCP connection
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._close_code = code
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(8, payload[:2]))
        elif opcode == 9 and self.transport is not None:
            self.transport.write(client_frame(10, payload))  # ping -> pong

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self._close_code if self._close_code is not None else 1006)

    def _abort(self, code: int | None) -> None:
        if self.transport is not None:
            self.transport.close()

    async def send(self, text: str) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("WebSocket is closed")
        self.transport.write(client_frame(1, text.encode()))

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(8, (1000).to_bytes(2, "big")))
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), 2)
            except TimeoutError:
                self.transport.close()
        if not self.closed.done():
            await self.closed


async def open_raw(
    url: str, on_message: OnMessage, timeout: float = 30, rcvbuf: int | None = None
) -> RawWs:
    """``rcvbuf``: a small socket receive buffer makes a slow reader's backlog reach the
    server quickly (a slow consumer on a thin link), instead of megabytes later."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    if rcvbuf is None:
        connecting = loop.create_connection(lambda: RawWs(on_message), host, port)
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        connecting = loop.create_connection(lambda: RawWs(on_message), sock=sock)
    transport, proto = await asyncio.wait_for(connecting, timeout)
    proto.transport = transport
    key = base64.b64encode(os.urandom(16)).decode()
    transport.write(
        (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(proto.opened, timeout)
    return proto


class LibWs:
    """The same interface over the ``websockets`` library."""

    def __init__(self, conn: ClientConnection, on_message: OnMessage) -> None:
        self.conn = conn
        self.on_message = on_message
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.conn:
                self.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result(self.conn.close_code or 1006)

    async def send(self, text: str) -> None:
        await self.conn.send(text)

    async def close(self) -> None:
        await self.conn.close()
        await self._reader


async def open_ws(
    url: str, on_message: OnMessage, kind: str = "raw", rcvbuf: int | None = None
) -> WsTransport:
    if kind == "raw" or rcvbuf is not None:
        return await open_raw(url, on_message, rcvbuf=rcvbuf)
    conn = await connect(url, max_size=None, compression=None, open_timeout=30)
    return LibWs(conn, on_message)
