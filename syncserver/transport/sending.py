"""Handing answers to clients that may never read them (docs/guarantees.md, guarantee 12).

A changes page is sent in parts of CHUNK bytes, each once the socket has taken the one
before (uvicorn waits for its write buffer to drain), so a slow reader's page stays one
object of ours, charged to the page pool (limits.PagePool) until the client has taken it,
instead of a copy in the transport's buffer that nothing counts. A client that takes no
part within SYNCSERVER_SEND_TIMEOUT seconds is dropped: its connection is aborted (a
plain close would wait for the unread buffer to drain first, which never happens).

Aborting needs the transport, which ASGI does not expose: the connection protocols of
`syncserver serve` (timeouts.py) put a callable under the scope extension ABORT.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..guard.limits import spread

ABORT = "syncserver.abort"
DRAINED = "syncserver.drained"  # WebSocket: wait until what was sent left our buffers
IGNORE_INPUT = "syncserver.ignore_input"  # WebSocket: drop what the client sends from now
# WebSocket: write an encoded frame as is, when the connection can take it now (timeouts.py)
WRITE_FRAME = "syncserver.write_frame"
CHUNK = 262_144


async def abort(scope: Scope) -> None:
    """Drop the connection now, its unsent bytes with it (no-op under other servers)."""
    drop: Callable[[], None] | None = scope.get("extensions", {}).get(ABORT)
    if drop is not None:
        drop()
        # connection_lost runs on the loop's next turn: the server then knows the
        # client is gone and does not report an unfinished answer.
        await asyncio.sleep(0)
        await asyncio.sleep(0)


def ignore_input(scope: Scope) -> None:
    """A WebSocket client that floods us: keep nothing more it sends (no-op elsewhere)."""
    drop: Callable[[], None] | None = scope.get("extensions", {}).get(IGNORE_INPUT)
    if drop is not None:
        drop()


class PageResponse(Response):
    """A JSON body sent in parts; `done` runs once it was taken, or the client is gone.
    The body may be given in pieces (a page's head, its changes, its tail): each is sent
    as it is, in views of at most CHUNK bytes, never copied."""

    def __init__(self, body: bytes | Sequence[bytes], done: Callable[[], None],
                 send_timeout: float) -> None:
        super().__init__(media_type="application/json")
        self.pieces = [body] if isinstance(body, bytes) else [p for p in body if p]
        self.done = done
        self.send_timeout = send_timeout
        length = sum(len(piece) for piece in self.pieces)
        self.parts_headers = [(b"content-type", b"application/json"),
                              (b"content-length", str(length).encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": self.parts_headers})
            parts = [memoryview(piece)[start:start + CHUNK] for piece in self.pieces
                     for start in range(0, len(piece), CHUNK)] or [memoryview(b"")]
            last = len(parts) - 1
            for n, part in enumerate(parts):
                try:
                    async with asyncio.timeout(spread(self.send_timeout)):
                        await send({"type": "http.response.body", "body": part,
                                    "more_body": n < last})
                except TimeoutError:
                    await abort(scope)
                    return
        finally:
            self.done()
