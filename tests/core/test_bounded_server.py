"""Guarantee 12, a bounded server, tried as an attacker would over real sockets: pages are
bounded in bytes, a WebSocket's queue in bytes, subscriptions per connection, collection
filters, a WebSocket push by the batch byte limit, long-polls leave no state behind and are
bounded in number, WebSocket connections are bounded in number. Every limit answers with its
documented code and changes no stored data."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from load.attackers import ws_frame
from tests.helpers import metric_value, mutation, push, wait_for_async
from tests.server import ServerProcess

from .support import data_snapshot
from .test_websocket import catch_up, recv, send

PAGE_BYTES = 100_000
LIMITS = {"SYNCSERVER_MAX_PAGE_BYTES": str(PAGE_BYTES), "SYNCSERVER_WS_MAX_SUBSCRIPTIONS": "5",
          "SYNCSERVER_MAX_FILTER_COLLECTIONS": "10", "SYNCSERVER_MAX_BATCH_BYTES": "200000",
          "SYNCSERVER_MAX_LONG_POLLS": "2", "SYNCSERVER_MAX_CONNECTIONS": "8"}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("bounded") / "sync.db", env=LIMITS).start()
    yield server
    server.stop()


def rss_kb(server: ServerProcess, field: str = "VmRSS") -> int:
    """The server's resident memory now, or at its peak (`VmHWM`), in KB."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field}")


async def until_gauge(c: httpx.AsyncClient, name: str, value: float) -> None:
    """Until the server's gauge `name` reads `value`."""
    async def reads() -> bool:
        return metric_value((await c.get("/metrics")).text, name) == value
    await wait_for_async(reads, what=f"{name} at {value:g}")


def big(n: int) -> dict:
    return {"blob": "x" * n}


def test_a_changes_page_stops_at_its_byte_budget_and_paging_yields_every_change(bounded,
                                                                                space):
    with httpx.Client(base_url=bounded.url, timeout=30) as c:
        # 12 records of 30 KB, then one larger than the page budget on its own.
        for batch in range(4):
            push(c, "w", [mutation(batch * 3 + i + 1, f"r{batch * 3 + i}", space=space,
                                   data=big(30_000), node="w") for i in range(3)])
        push(c, "w", [mutation(20, "huge", space=space, data=big(PAGE_BYTES + 20_000),
                               node="w")])
        seen: list[int] = []
        cursor = ""
        while True:
            r = c.get("/v1/changes", params={"space": space, "since": cursor, "limit": 1000})
            assert r.status_code == 200
            page = r.json()
            sizes = [len(orjson.dumps(ch)) for ch in page["changes"]]
            assert sizes, "a page holds at least one change"
            assert sum(sizes) <= PAGE_BYTES or len(sizes) == 1, sizes
            seen += [ch["seq"] for ch in page["changes"]]
            cursor = page["cursor"]
            if not page["more"]:
                break
        assert seen == list(range(1, 14)), "every change once, in order"
        assert len(r.content) > PAGE_BYTES, "the oversized record came alone"

    async def over_websocket() -> None:
        async with connect(bounded.ws_url, max_size=None) as ws:
            await send(ws, {"type": "subscribe", "space": space})
            frames: list[int] = []
            changes: list[dict] = []
            while True:
                raw = await asyncio.wait_for(ws.recv(), 10)
                msg = orjson.loads(raw)
                if msg["type"] == "synced":
                    break
                frames.append(len(raw))
                changes += msg["changes"]
                assert len(raw) <= PAGE_BYTES + 1_000 or len(msg["changes"]) == 1
            assert [ch["seq"] for ch in changes] == list(range(1, 14))
            assert len(frames) >= 5, frames

    asyncio.run(over_websocket())


def test_subscriptions_per_connection_are_limited_and_the_connection_goes_on(bounded, space):
    async def scenario() -> None:
        async with connect(bounded.ws_url) as ws:
            for i in range(5):
                await send(ws, {"type": "subscribe", "space": f"{space}-{i}"})
                await catch_up(ws, f"{space}-{i}")
            await send(ws, {"type": "subscribe", "space": f"{space}-5"})
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["code"] == "too_many_subscriptions", msg
            assert msg["space"] == f"{space}-5"
            # Subscribing again to a space it holds is no new subscription.
            await send(ws, {"type": "subscribe", "space": f"{space}-0"})
            await catch_up(ws, f"{space}-0")
            await send(ws, {"type": "unsubscribe", "space": f"{space}-1"})
            await send(ws, {"type": "subscribe", "space": f"{space}-5"})
            await catch_up(ws, f"{space}-5")
            await send(ws, {"type": "ping"})
            assert (await recv(ws))["type"] == "pong"

    asyncio.run(scenario())


def test_a_collections_filter_over_the_limit_is_invalid_request(bounded, space):
    names = [f"c{i}" for i in range(11)]
    with httpx.Client(base_url=bounded.url, timeout=30) as c:
        r = c.get("/v1/changes", params={"space": space, "collections": ",".join(names)})
        assert r.status_code == 400 and r.json()["code"] == "invalid_request", r.text
        assert r.json()["field"] == "collections"
        ok = c.get("/v1/changes", params={"space": space, "collections": ",".join(names[:10])})
        assert ok.status_code == 200

    async def scenario() -> None:
        async with connect(bounded.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": space, "collections": names})
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["code"] == "invalid_request", msg

    asyncio.run(scenario())


def test_a_websocket_push_over_the_batch_byte_limit_is_refused_and_nothing_is_stored(
        bounded, space):
    before = data_snapshot(bounded.db)

    async def scenario() -> None:
        async with connect(bounded.ws_url) as ws:
            await send(ws, {"type": "push", "request_id": "big", "client_id": "p",
                            "mutations": [mutation(i + 1, f"r{i}", space=space, node="p",
                                                   data=big(4_000)) for i in range(60)]})
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["code"] == "batch_too_large", msg
            assert msg["request_id"] == "big"
            await send(ws, {"type": "ping"})
            assert (await recv(ws))["type"] == "pong", "the connection goes on"

    asyncio.run(scenario())
    assert data_snapshot(bounded.db) == before


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_long_polls_over_the_limit_answer_at_once_as_a_plain_pull(bounded, space):
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=bounded.url, timeout=30) as c:
            params = {"space": space, "wait": "5"}
            held = [asyncio.create_task(c.get("/v1/changes", params=params)) for _ in range(2)]
            await until_gauge(c, "syncserver_long_polls_waiting", 2)
            start = time.monotonic()
            r = await c.get("/v1/changes", params=params)
            took = time.monotonic() - start
            assert r.status_code == 200 and r.json()["changes"] == [], r.text
            assert took < 1.5, f"the third long-poll waited {took:.1f}s"
            for answer in await asyncio.gather(*held):
                assert answer.status_code == 200

    asyncio.run(scenario())


def test_websocket_connections_over_the_limit_are_refused_with_503_and_retry_after(bounded):
    async def scenario() -> None:
        held = [await connect(bounded.ws_url) for _ in range(8)]
        try:
            with pytest.raises(InvalidStatus) as refused:
                await connect(bounded.ws_url)
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"].isdigit()
            assert orjson.loads(response.body)["code"] == "server_busy"
        finally:
            for ws in held:
                await ws.close()
        async with httpx.AsyncClient(base_url=bounded.url, timeout=30) as c:
            await until_gauge(c, "syncserver_ws_connections", 0)  # the closes are counted
        async with connect(bounded.ws_url) as ws:
            await send(ws, {"type": "ping"})
            assert (await recv(ws))["type"] == "pong"

    asyncio.run(scenario())


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
def test_long_polls_of_never_written_spaces_leave_nothing_behind(server_factory):
    server = server_factory()
    port = server.port

    def polls(prefix: str, n: int) -> None:
        """n requests pipelined on one keep-alive connection, each a distinct space."""
        with socket.create_connection(("127.0.0.1", port)) as s:
            request = b"".join(
                b"GET /v1/changes?space=%s-%d&wait=0.001 HTTP/1.1\r\nHost: x\r\n\r\n"
                % (prefix.encode(), i) for i in range(n))
            s.sendall(request)
            received = b""
            while received.count(b"HTTP/1.1 200") < n:
                chunk = s.recv(1 << 16)
                assert chunk, "the server closed the connection"
                received += chunk

    async def many(prefix: str, conns: int, each: int) -> None:
        await asyncio.gather(*(asyncio.to_thread(polls, f"{prefix}{k}", each)
                               for k in range(conns)))

    # A first round brings the server's caches (SQLite's page cache, the allocator's
    # arenas) to their working size; the second must not grow it by space names.
    asyncio.run(many("warm", 8, 1_500))
    before = rss_kb(server)
    asyncio.run(many("never", 8, 1_500))  # 12,000 more space names nobody ever writes
    grown = rss_kb(server) - before
    # Measured: 11-12 MB before the notifier dropped idle wake-up state, 2-3 MB after.
    assert grown < 7_000, f"RSS grew by {grown} KB over 12,000 never-written spaces"


def test_the_live_feed_of_a_stalled_websocket_is_a_slow_consumer_by_bytes(server_factory):
    server = server_factory(env={"SYNCSERVER_WS_MAX_QUEUED_BYTES": "300000",
                                 "SYNCSERVER_WS_QUEUE": "100000"})

    async def scenario() -> None:
        async with connect(server.ws_url, max_queue=1, max_size=None) as ws, \
                httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            await send(ws, {"type": "subscribe", "space": "live"})
            await catch_up(ws, "live")
            mid = 0
            for _ in range(300):
                mid += 1
                r = await c.post("/v1/push", json={"client_id": "w", "mutations": [
                    mutation(mid, f"r{mid}", space="live", data=big(100_000), node="w")]})
                assert r.status_code == 200
                if "syncserver_ws_slow_consumers_total 1.0" in (await c.get("/metrics")).text:
                    break
            else:
                raise AssertionError("never a slow consumer by bytes")
            resync = None
            try:
                while True:
                    msg = await recv(ws)
                    if msg["type"] == "resync":
                        resync = msg
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4408
            assert resync is not None and resync["code"] == "slow_consumer"

    asyncio.run(scenario())


def test_connections_that_send_headers_slowly_are_closed_while_others_are_served(
        server_factory):
    server = server_factory(env={"SYNCSERVER_HEADER_TIMEOUT": "1"})

    def slow() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(0.2)
        return s

    sockets = [slow() for _ in range(20)] + [socket.create_connection(("127.0.0.1",
                                                                        server.port))]
    closed: set[int] = set()
    start = time.monotonic()
    try:
        with httpx.Client(base_url=server.url, timeout=5) as c:
            while len(closed) < len(sockets) and time.monotonic() - start < 6:
                assert c.get("/healthz").status_code == 200, "another client is served"
                for i, s in enumerate(sockets):
                    if i in closed:
                        continue
                    try:
                        if i < 20:  # the last one never sends a byte
                            s.sendall(b"X-Slow: 1\r\n")  # one header line now and then
                        if s.recv(1024) == b"":
                            closed.add(i)
                    except TimeoutError:
                        pass
                    except OSError:  # reset: closed by the server
                        closed.add(i)
        took = time.monotonic() - start
    finally:
        for s in sockets:
            s.close()
    assert len(closed) == len(sockets), f"{len(sockets) - len(closed)} slow clients held"
    assert took < 4, f"closed after {took:.1f}s with a 1s header timeout"


def test_a_push_body_sent_slowly_is_408_and_nothing_is_stored(server_factory):
    server = server_factory(env={"SYNCSERVER_BODY_TIMEOUT": "1"})
    before = data_snapshot(server.db)
    body = orjson.dumps({"client_id": "slow", "mutations": [
        mutation(1, "r1", space="slow", node="slow")]})
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        s.settimeout(5)
        start = time.monotonic()
        answer = s.recv(4096)
        took = time.monotonic() - start
        while b"\r\n\r\n{" not in answer:  # the body may come in its own packet
            more = s.recv(4096)
            assert more, answer
            answer += more
        s.sendall(body[10:])  # too late
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"request_timeout"' in answer
    assert took < 3
    assert data_snapshot(server.db) == before


def test_a_subscribe_flood_is_closed_unparsed_and_costs_no_memory(server_factory):
    """Frames sent faster than the server reads them stay raw bytes until it asks for the
    next message (before: every frame of a 256 KB read became a queued message, 1.2 MB
    per connection, and seconds of parsing); a connection that keeps subscribing past the
    limit is closed with 1008 and what it sent on is dropped."""
    server = server_factory(env={"SYNCSERVER_WS_MAX_SUBSCRIPTIONS": "5"})
    flood = b"".join(ws_frame({"type": "subscribe", "space": f"flood-{k}"})
                     for k in range(10_000))
    before = rss_kb(server)
    sockets = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
                      b"Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n")
            s.settimeout(10)
            assert s.recv(4096).startswith(b"HTTP/1.1 101")
            s.sendall(flood)
            sockets.append(s)
        with httpx.Client(base_url=server.url, timeout=5) as c:
            assert c.get("/healthz").status_code == 200, "another client is served"
        for s in sockets:  # every flood handled, to its close
            answer = b""
            while b"\x88" not in answer[-64:]:  # a close frame
                chunk = s.recv(65536)
                assert chunk, answer[-300:]
                answer += chunk
            assert answer.count(b"too_many_subscriptions") == 4, "3 refusals, then the close"
            assert b"\x88" in answer and b"\x03\xf0" in answer, "close code 1008"
        grown = rss_kb(server, "VmHWM") - before  # the peak, whenever it came
    finally:
        for s in sockets:
            s.close()
    # 100 x 10,000 frames: measured 44 MB parsed ahead (uvicorn parses a whole 256 KB
    # read), 8 MB parsed as read (RSS one second into the flood).
    assert grown < 25_000, f"RSS grew by {grown} KB"
