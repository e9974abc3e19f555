"""A failure inside one WebSocket subscription reaches the client as an `error` frame
naming the space that ends that subscription only: the connection's other subscriptions
go on.

The faults are real and provoked from outside the server:
- storage trouble: the pages that hold one space's records are damaged in the SQLite file
  (overflow pages of large records), so reading that space's feed fails inside SQLite
  while every other space reads and writes normally (storage_unavailable, storage/failures.py);
- an unexpected exception: a subscription whose collection filter has more names than a
  page merges by index (storage/base.py MERGED_RANGES_MAX; the server is configured
  to take such filters) reads the space's range by its (space, seq) index, and that index
  is dropped from the file while the server runs: the read fails with an error that is
  neither bad input caught early nor storage trouble (internal_error), while a subscription
  without a filter reads the space through the primary key's order as before.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from syncserver.storage.base import MERGED_RANGES_MAX
from tests.helpers import mutation, push

from .support import metric
from .test_websocket import apush, catch_up, recv, send

MARKER = b"Q" * 4092  # an overflow page: a 4-byte next-page number, then payload only
# These tests are about damage the server meets while it serves: its start-up check of the
# file (which refuses a damaged one, test_damaged_database.py) is off for them.
RUN_TIME_DAMAGE = {"SYNCSERVER_SQLITE_STARTUP_CHECK": "0"}


def damage_pages_holding(db: Path, marker: bytes) -> int:
    """Point the next-page number of every overflow page filled with `marker` past the end
    of the file: SQLite then fails ("database disk image is malformed") when it reads the
    record those pages belong to. Returns how many pages were damaged."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    conn.close()
    assert page_size == 4096
    data = bytearray(db.read_bytes())
    damaged = 0
    for offset in range(0, len(data), page_size):
        if data[offset + 4:offset + page_size] == marker:
            data[offset:offset + 4] = b"\x7f\xff\xff\xff"
            damaged += 1
    db.write_bytes(bytes(data))
    return damaged


def test_a_subscription_on_damaged_storage_gets_an_error_and_the_others_go_on(server_factory,
                                                                            tmp_path):
    db = tmp_path / "sync.db"
    server = server_factory(db=db)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        # The damaged space first, so the healthy space's records sit in later pages.
        push(c, "w-bad", [mutation(i, f"b{i}", space="damaged", data={"blob": "Q" * 30_000})
                          for i in range(1, 4)])
        push(c, "w-ok", [mutation(i, f"h{i}", space="healthy") for i in range(1, 4)])
    server.stop()
    assert damage_pages_holding(db, MARKER) >= 3
    server = server_factory(db=db, env=RUN_TIME_DAMAGE)

    async def scenario() -> None:
        async with connect(server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": "healthy"})
            changes, _ = await catch_up(ws, "healthy")
            assert [c["id"] for c in changes] == ["h1", "h2", "h3"]

            await send(ws, {"type": "subscribe", "space": "damaged"})
            msg = await recv(ws)
            assert msg["type"] == "error", msg
            assert msg["code"] == "storage_unavailable" and msg["space"] == "damaged", msg
            assert msg["detail"] and msg["retry_after"] > 0

            # The connection and its healthy subscription go on.
            await apush(server.url, "w-ok2", [mutation(1, "h4", space="healthy")])
            msg = await recv(ws)
            assert msg["type"] == "changes" and msg["live"] is True, msg
            assert msg["space"] == "healthy" and [c["id"] for c in msg["changes"]] == ["h4"]
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}

    asyncio.run(scenario())


def test_an_unexpected_exception_in_a_subscription_is_internal_error_and_the_others_go_on(
        server_factory):
    live_server = server_factory(env={"SYNCSERVER_MAX_FILTER_COLLECTIONS": "1000000"})
    too_many = [f"c{i}" for i in range(MERGED_RANGES_MAX + 1)]
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        push(c, "w", [mutation(1, "h1", space="healthy", node="w"),
                      mutation(2, "f1", space="filtered", node="w")])
    with sqlite3.connect(live_server.db) as outside:
        outside.execute("DROP INDEX ix_records_space_seq")

    async def scenario() -> None:
        async with connect(live_server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": "healthy"})
            changes, _ = await catch_up(ws, "healthy")
            assert [c["id"] for c in changes] == ["h1"]

            await send(ws, {"type": "subscribe", "space": "filtered",
                            "collections": too_many})
            msg = await recv(ws, timeout=30)
            assert msg["type"] == "error", msg
            assert msg["code"] == "internal_error" and msg["space"] == "filtered", msg
            assert msg["detail"]

            await apush(live_server.url, "w3", [mutation(1, "h2", space="healthy", node="w3")])
            msg = await recv(ws)
            assert msg["type"] == "changes" and msg["live"] is True, msg
            assert msg["space"] == "healthy" and [c["id"] for c in msg["changes"]] == ["h2"]
            # The ended subscription's space is free: subscribing again works.
            await send(ws, {"type": "subscribe", "space": "filtered"})
            changes, _ = await catch_up(ws, "filtered")
            assert [c["id"] for c in changes] == ["f1"]

    asyncio.run(scenario())


HEALTHY = 60  # 250 KB records: 15 MB of catch-up, more than the socket and queue hold
PENDING = "syncserver_ws_pending_bytes"


def test_a_subscription_ended_by_an_error_gives_back_its_pending_bytes(server_factory,
                                                                      tmp_path):
    """Live batches that wait in a subscription count against its connection's byte
    budget; when an error ends the subscription they are never sent, and must leave the
    budget, or a healthy long-lived connection is later cut as a slow consumer."""
    db = tmp_path / "sync.db"
    server = server_factory(db=db)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        # The space's first changes read fine, its last ones are on damaged pages.
        for start in range(0, HEALTHY, 10):
            push(c, "w-ok", [mutation(start + i + 1, f"h{start + i}", space="s", node="w-ok",
                                      data={"blob": "x" * 250_000}) for i in range(10)])
        push(c, "w-bad", [mutation(i, f"b{i}", space="s", node="w-bad",
                                   data={"blob": "Q" * 30_000}) for i in range(1, 4)])
    server.stop()
    assert damage_pages_holding(db, MARKER) >= 3
    server = server_factory(db=db, env={**RUN_TIME_DAMAGE,
                                        "SYNCSERVER_MAX_PAGE_BYTES": "1000000",
                                        "SYNCSERVER_WS_MAX_QUEUED_BYTES": "2000000"})

    c = httpx.Client(base_url=server.url, timeout=30)  # /metrics

    async def scenario() -> None:
        # A client that reads nothing for now: its catch-up stops when the socket's
        # buffers and the connection's queue are full, long before the damaged pages.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        async with connect(server.ws_url, sock=sock, max_queue=1, max_size=None) as ws:
            await send(ws, {"type": "subscribe", "space": "s"})
            await apush(server.url, "w-live", [mutation(i, f"l{i}", space="s")
                                               for i in range(1, 4)])
            # The live batch waits in the subscription, behind its catch-up.
            for _ in range(600):
                if metric(c, PENDING) > 0:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the live batch never waited in the subscription")
            # Read on: the catch-up reaches the damaged pages and the subscription ends.
            while True:
                msg = await recv(ws, timeout=60)
                if msg["type"] == "error":
                    break
                assert msg["type"] == "changes" and msg["live"] is False, msg
            assert msg["code"] == "storage_unavailable" and msg["space"] == "s", msg
            # Its live batch will never be sent: the connection's budget is whole again.
            assert metric(c, PENDING) == 0
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}

    with c:
        asyncio.run(scenario())
