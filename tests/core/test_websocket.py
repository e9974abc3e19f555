"""The WebSocket channel: catch-up then live, resume from a cursor, backpressure, push."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import mutation, push, stamped_by

from .support import metric, stored_records

TIMEOUT = 10.0


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), "the server sends text frames"
    message: dict[str, Any] = orjson.loads(frame)
    return message


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def catch_up(ws: ClientConnection, space: str) -> tuple[list[dict], str]:
    """Read catch-up pages up to `synced`; the changes and the synced cursor."""
    changes: list[dict] = []
    while True:
        msg = await recv(ws)
        if msg["type"] == "synced":
            assert msg["space"] == space
            return changes, msg["cursor"]
        assert msg["type"] == "changes" and msg["live"] is False, msg
        assert msg["space"] == space
        changes += msg["changes"]


async def apush(url: str, client_id: str, mutations: list[dict]) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        r = await c.post("/v1/push", json={"client_id": client_id,
                                           "mutations": stamped_by(client_id, mutations)})
        assert r.status_code == 200, r.text
        out: dict = r.json()
        return out


def test_subscribe_catches_up_then_gets_live_changes(http, shared_server, space):
    push(http, "c-ws-" + space, [mutation(i, f"old{i}", space=space) for i in range(1, 6)])

    async def scenario() -> None:
        async with connect(shared_server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
            old, synced_cursor = await catch_up(ws, space)
            assert sorted(c["id"] for c in old) == [f"old{i}" for i in range(1, 6)]
            assert synced_cursor.split(".")[0] == "5"

            await apush(shared_server.url, "c-other-" + space,
                        [mutation(1, "new1", space=space),
                         mutation(2, "new2", space=space, collection="notes")])
            msg = await recv(ws)
            assert msg["type"] == "changes" and msg["live"] is True, msg
            assert [c["id"] for c in msg["changes"]] == ["new1", "new2"]
            assert msg["cursor"].split(".")[0] == "7"
            assert [c["version"] for c in msg["changes"]] == [1, 1]

    asyncio.run(scenario())


def test_catch_up_over_many_pages_then_live(server_factory):
    server = server_factory(env={"SYNCSERVER_MAX_PAGE": "3"})
    space = "paged"
    with httpx.Client(base_url=server.url, timeout=30) as c:
        push(c, "c1", [mutation(i, f"r{i}", space=space) for i in range(1, 11)])

    async def scenario() -> None:
        async with connect(server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": space})
            pages = 0
            seen: list[int] = []
            while True:
                msg = await recv(ws)
                if msg["type"] == "synced":
                    break
                pages += 1
                assert len(msg["changes"]) <= 3 and msg["live"] is False
                seen += [c["seq"] for c in msg["changes"]]
            assert pages >= 4 and seen == list(range(1, 11))
            await apush(server.url, "c2", [mutation(1, "live", space=space)])
            msg = await recv(ws)
            assert msg["live"] is True and [c["seq"] for c in msg["changes"]] == [11]

    asyncio.run(scenario())


def test_reconnect_with_last_cursor_loses_and_repeats_nothing(http, shared_server, space):
    url = shared_server.url

    async def scenario() -> None:
        seen: list[str] = []
        await apush(url, "c-a-" + space, [mutation(1, "x1", space=space)])
        async with connect(shared_server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
            changes, cursor = await catch_up(ws, space)
            seen += [c["id"] for c in changes]
            for i in range(2, 5):
                await apush(url, "c-a-" + space, [mutation(i, f"x{i}", space=space)])
                msg = await recv(ws)
                assert msg["live"] is True
                seen += [c["id"] for c in msg["changes"]]
                cursor = msg["cursor"]
        # offline: others keep writing
        await apush(url, "c-b-" + space, [mutation(i, f"y{i}", space=space)
                                          for i in range(1, 6)])
        async with connect(shared_server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": space, "cursor": cursor})
            changes, _ = await catch_up(ws, space)
            seen += [c["id"] for c in changes]
            await apush(url, "c-b-" + space, [mutation(6, "y6", space=space)])
            msg = await recv(ws)
            seen += [c["id"] for c in msg["changes"]]
        expected = [f"x{i}" for i in range(1, 5)] + [f"y{i}" for i in range(1, 7)]
        assert seen == expected

    asyncio.run(scenario())


def test_slow_consumer_is_told_to_resync_and_closed(server_factory):
    server = server_factory(env={"SYNCSERVER_WS_QUEUE": "4"})
    space = "slow"
    big = {"blob": "x" * 60_000}

    async def scenario() -> None:
        # max_queue=1: the client stops reading its socket at once, so the server's
        # sends back up as they would to a phone on a bad link.
        async with connect(server.ws_url, max_queue=1, max_size=None) as ws, \
                httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            await send(ws, {"type": "subscribe", "space": space})
            await catch_up(ws, space)
            for mid in range(1, 400):
                r = await c.post("/v1/push", json={"client_id": "w", "mutations": [
                    mutation(mid, f"r{mid}", space=space, data=big, node="w")]})
                assert r.status_code == 200
                metrics = (await c.get("/metrics")).text
                if "syncserver_ws_slow_consumers_total 1.0" in metrics:
                    break
            else:
                raise AssertionError("the server never gave up on the slow consumer")
            # Reading again: whatever was in flight, then the resync message and the close.
            last: dict = {}
            try:
                while True:
                    last = await recv(ws)
                    assert last["type"] in ("changes", "resync"), last
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4408
            assert last == {"type": "resync", "space": space, "code": "slow_consumer",
                            "cursor": last.get("cursor"),
                            "detail": last.get("detail")} and last["detail"]
            assert last["cursor"].split(".")[0].isdigit()

    asyncio.run(scenario())


def test_push_over_websocket_returns_the_same_results_as_http(http, shared_server, space,
                                                              db_path):
    batch = [mutation(1, "a", space=space), mutation(2, "a", op="patch", base=1,
                                                      space=space, data={"n": 1}),
             {**mutation(3, "b", space=space), "op": "nope"}, mutation(4, "c", space=space)]

    async def scenario() -> dict:
        async with connect(shared_server.ws_url) as ws:
            await send(ws, {"type": "push", "request_id": "r1", "client_id": "c-ws-" + space,
                            "mutations": stamped_by("c-ws-" + space, batch)})
            msg = await recv(ws)
            assert msg["type"] == "push_result" and msg["request_id"] == "r1"
            return msg

    over_ws = asyncio.run(scenario())
    assert [r["status"] for r in over_ws["results"]] == [
        "applied", "applied", "rejected", "applied"]
    stored = stored_records(db_path, space)
    # The same batch over HTTP is a replay of the same mutations: the same results.
    over_http = push(http, "c-ws-" + space, batch)
    assert over_http["results"] == [{**r, "duplicate": True} for r in over_ws["results"]]
    assert stored_records(db_path, space) == stored
    # And a fresh copy of it, from another client, is answered alike over HTTP.
    fresh = push(http, "c-http-" + space, [{**m, "space": space + "x"} for m in batch])
    assert [(r["status"], r.get("version")) for r in fresh["results"]] == [
        (r["status"], r.get("version")) for r in over_ws["results"]]
    assert over_ws["cursors"][space].split(".")[0] == str(over_ws["results"][-1]["seq"])


def test_ping_gets_pong(shared_server):
    async def scenario() -> None:
        async with connect(shared_server.ws_url) as ws:
            for _ in range(3):
                await send(ws, {"type": "ping"})
                assert await recv(ws) == {"type": "pong"}
            await asyncio.wait_for(await ws.ping(), TIMEOUT)  # protocol-level ping too

    asyncio.run(scenario())


def test_the_server_pings_a_quiet_client(server_factory):
    """The server sends protocol pings of its own every SYNCSERVER_WS_PING_INTERVAL
    seconds: how it finds a client gone without a close (an unanswered ping drops the
    connection). A client that sends nothing still gets them (uvicorn's sans-I/O WebSocket
    protocol sent none before 0.44: requirements/lowest.txt runs this test)."""
    server = server_factory(env={"SYNCSERVER_WS_PING_INTERVAL": "1"})

    async def scenario() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            key = base64.b64encode(os.urandom(16))
            writer.write(b"GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n" % (server.port, key))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert head.startswith(b"HTTP/1.1 101"), head
            opcodes: list[int] = []
            try:
                async with asyncio.timeout(TIMEOUT):
                    while 0x9 not in opcodes:  # a ping (the server's frames are not masked)
                        first, length = await reader.readexactly(2)
                        size = length & 0x7F
                        if size >= 126:
                            size = int.from_bytes(await reader.readexactly(
                                2 if size == 126 else 8))
                        await reader.readexactly(size)
                        opcodes.append(first & 0x0F)
            except TimeoutError:
                raise AssertionError(f"no ping from the server in {TIMEOUT} s") from None
            assert opcodes == [0x9], opcodes  # nothing else, unasked
        finally:
            writer.close()

    asyncio.run(scenario())


def test_websocket_connections_are_counted(http, shared_server):
    async def scenario() -> None:
        async with connect(shared_server.ws_url) as ws:
            await send(ws, {"type": "ping"})
            await recv(ws)
            assert metric(http, "syncserver_ws_connections") >= 1

    asyncio.run(scenario())
