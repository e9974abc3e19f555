"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

Why not httpx: at 50,000 mutations/s the load tool shares a 2-core machine with the server,
and httpx's per-request overhead (header models, URL objects, pool bookkeeping) costs several
times more CPU than writing one pre-built request and reading ``Content-Length`` bytes.
The tool only talks to syncserver, so the subset we need is small: one request at a time per
connection, ``Content-Length`` or chunked bodies, reconnect when the server closed the socket.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


class HttpError(Exception):
    """A transport failure (connection refused or reset, timeout, malformed answer)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class _StaleConnection(Exception):
    """The connection ended before any byte of the answer."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class HttpConnection:
    """One keep-alive connection to one server, used by one simulated client at a time."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs are supported, got {base_url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.set_token(token)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def set_token(self, token: str | None) -> None:
        """The bearer token of the next requests (a refreshed token: load/grants.py)."""
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        # Headers that change only with the token are rendered once.
        self._fixed = f"Host: {self.host}:{self.port}\r\n{auth}Connection: keep-alive\r\n".encode()

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=1 << 24), self.timeout
            )
        except (TimeoutError, OSError) as exc:
            raise HttpError("connect_error", str(exc)) from exc

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def request(
        self, method: str, path: str, body: bytes | None = None, read: bool = True
    ) -> Response | None:
        """Send one request. With ``read=False`` the connection is dropped before the answer
        arrives: the server still processes the request, the client never learns the result
        (the lost-response case a service worker retry has to survive)."""
        for attempt in (1, 2):
            reused = self._writer is not None
            try:
                return await self._request_once(method, path, body, read)
            except _StaleConnection as exc:
                # The server closed an idle keep-alive connection (uvicorn: after 5 s) as we
                # reused it, and no byte of an answer came back. Sending again on a fresh
                # connection is what browsers do; for a push it is a replay, which the
                # protocol makes safe.
                if reused and attempt == 1:
                    continue
                cause = exc.__cause__
                raise HttpError("connection_error", f"closed before answering: {cause!r}") from exc
        raise AssertionError("unreachable")

    async def _request_once(
        self, method: str, path: str, body: bytes | None, read: bool
    ) -> Response | None:
        if self._writer is None:
            await self._connect()
        assert self._writer is not None and self._reader is not None
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode() + self._fixed
        if body is not None:
            head += (
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n"
            )
        self._writer.write(head + b"\r\n")
        if body:
            self._writer.write(body)
        try:
            try:
                await self._writer.drain()
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise _StaleConnection() from exc
            if not read:
                await self.close()
                return None
            return await asyncio.wait_for(self._read_response(), self.timeout)
        except TimeoutError as exc:
            await self.close()
            raise HttpError("timeout", f"{method} {path}") from exc
        except _StaleConnection:
            await self.close()
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.close()
            raise HttpError("connection_error", f"{type(exc).__name__}: {exc}") from exc

    async def _read_response(self) -> Response:
        assert self._reader is not None
        reader = self._reader
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            if isinstance(exc, ConnectionResetError) or not exc.partial:
                raise _StaleConnection() from exc
            raise
        lines = raw[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)
        else:
            body = await reader.read()  # body until close (HTTP/1.0 style)
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, headers, body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
