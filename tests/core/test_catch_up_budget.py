"""WebSocket catch-up under a byte budget (guarantee 12): a subscriber whose catch-up spans
many 250 KB records gets it in pages of at most SYNCSERVER_MAX_PAGE_BYTES, and subscribers
that never read hold no more than the page pool (SYNCSERVER_MAX_PAGES_IN_FLIGHT_BYTES):
before it, each held its connection's whole queue budget and a page in the socket's
buffer, for ever (uvicorn's close waits for unread bytes to drain). They are dropped after
SYNCSERVER_SEND_TIMEOUT, and a reading subscriber catches up meanwhile."""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from load.attackers import ws_frame
from tests.helpers import mutation, push, wait_for

from .test_bounded_server import rss_kb

RECORD = 250_000
RECORDS = 60  # 15 MB of changes
PAGE_BYTES = 1_000_000
STALLED = 40
POOL_BYTES = 16_000_000
ENV = {"SYNCSERVER_MAX_PAGE_BYTES": str(PAGE_BYTES),
       "SYNCSERVER_MAX_PAGES_IN_FLIGHT_BYTES": str(POOL_BYTES),
       "SYNCSERVER_SEND_TIMEOUT": "2"}


def _seed(url: str, space: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as c:
        for start in range(0, RECORDS, 10):
            push(c, "seed", [mutation(start + i + 1, f"r{start + i}", space=space, node="seed",
                                      data={"blob": "x" * RECORD}) for i in range(10)])


def _warm(url: str, space: str) -> None:
    """Every reader thread reads the whole space once: SQLite's page cache of each reader
    connection (up to 64 MB) then holds it, and is not counted as held by the stalled."""
    def pull_all(_: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            cursor, more = "", True
            while more:
                page = c.get("/v1/changes", params={"space": space, "since": cursor}).json()
                cursor, more = page["cursor"], page["more"]

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(pull_all, range(24)))


def _stall(port: int, space: str) -> socket.socket:
    """A subscriber from cursor zero that reads nothing after the handshake."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
              b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13"
              b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    s.sendall(ws_frame({"type": "subscribe", "space": space}))
    return s


def _sent_to(s: socket.socket) -> bool:
    """The server has begun to send it something past the handshake (left unread)."""
    try:
        return bool(s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def _dropped(s: socket.socket) -> bool:
    """The server closed (or reset) it: what it sent, then EOF."""
    s.setblocking(False)
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_catch_up_of_large_records_is_paged_and_stalled_subscribers_stay_bounded(
        server_factory) -> None:
    server = server_factory(env=ENV)
    space = "big"
    _seed(server.url, space)
    _warm(server.url, space)
    before = rss_kb(server)
    stalled = [_stall(server.port, space) for _ in range(STALLED)]
    try:
        # They have asked for 40 x 15 MB; the pool holds 16 MB: full once as many of them
        # as it has pages for are being sent one.
        wait_for(lambda: sum(_sent_to(s) for s in stalled) >= POOL_BYTES // PAGE_BYTES,
                 timeout=30, what="the page pool held by stalled subscribers")
        held = rss_kb(server) - before

        async def reader() -> tuple[list[int], list[int]]:
            sizes: list[int] = []
            seqs: list[int] = []
            async with connect(server.ws_url, max_size=None) as ws:
                await ws.send(orjson.dumps({"type": "subscribe", "space": space}).decode())
                while True:
                    raw = await asyncio.wait_for(ws.recv(), 60)
                    msg = orjson.loads(raw)
                    if msg["type"] == "synced":
                        return sizes, seqs
                    assert msg["type"] == "changes", msg
                    sizes.append(sum(len(orjson.dumps(ch)) for ch in msg["changes"]))
                    seqs += [ch["seq"] for ch in msg["changes"]]

        start = time.monotonic()
        sizes, seqs = asyncio.run(reader())
        took = time.monotonic() - start
        assert seqs == list(range(1, RECORDS + 1)), "every change once, in order"
        assert max(sizes) <= PAGE_BYTES and len(sizes) >= RECORDS * RECORD // PAGE_BYTES
        # Measured: 30 MB with the pool, 115 MB without (the pool set to 1 GB).
        assert held < 70_000, f"{STALLED} stalled subscribers hold {held // 1024} MB"
        # Stalled subscribers hold the pool until they are dropped (send timeout, 2 s).
        assert took < 40, f"the reading subscriber waited {took:.1f}s"
        # (those still waiting for room get their pages, and stall, only as others go)
        wait_for(lambda: all(_dropped(s) for s in stalled), timeout=60, interval=0.5,
                 what="the stalled subscribers dropped")
    finally:
        for s in stalled:
            s.close()
    metrics = httpx.get(server.url + "/metrics", timeout=10).text
    assert "syncserver_ws_slow_consumers_total" in metrics
