"""Guarantee 9 over the WebSocket: a garbage frame gets an error and its close code (or an
error frame on an open connection), never a crash, and never changes stored data."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import mutation, push

from .support import snapshot
from .test_websocket import recv, send

SPACE = "frames"


@pytest.fixture(scope="module")
def seeded(limited_server) -> Iterator[dict[str, str]]:
    with httpx.Client(base_url=limited_server.url, timeout=30) as c:
        push(c, "seed", [mutation(1, "a", space=SPACE), mutation(2, "x", space="elsewhere")])
        mine = c.get("/v1/changes", params={"space": SPACE}).json()["cursor"]
        other = c.get("/v1/changes", params={"space": "elsewhere"}).json()["cursor"]
    seq, tag = mine.split(".", 1)
    yield {"forged": f"{int(seq) + 1}.{tag}", "other_space": other}


async def _closed_after(ws: Any) -> tuple[list[dict], int | None]:
    """Messages received until the server closes; the close code."""
    messages: list[dict] = []
    try:
        while True:
            messages.append(await recv(ws))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None


def _push_of_number(number: str) -> str:
    """A push frame, valid but for `number` in its mutation's data."""
    return ('{"type": "push", "client_id": "c-num", "mutations": [{"mid": 1, "space": "frames", '
            '"collection": "t", "id": "num", "op": "put", "base_version": 0, '
            '"hlc": "1763756400000:00000:c-num", "data": {"f": %s}}]}' % number)


CLOSING_FRAMES: dict[str, tuple[str | bytes, int, str]] = {
    "binary_frame": (b'{"type": "ping"}', 1003, "unsupported_frame"),
    "not_json": ("{type: ping}", 4400, "malformed_json"),
    "empty_text": ("", 4400, "malformed_json"),
    "json_array": ('[{"type": "ping"}]', 4400, "invalid_request"),
    "json_string": ('"ping"', 4400, "invalid_request"),
    "no_type": ('{"space": "frames"}', 4400, "invalid_request"),
    "unknown_type": ('{"type": "explode"}', 4400, "invalid_request"),
    "type_not_a_string": ('{"type": ["ping"]}', 4400, "invalid_request"),
    "subscribe_without_space": ('{"type": "subscribe"}', 4400, "invalid_request"),
    "subscribe_bad_space": ('{"type": "subscribe", "space": "a b"}', 4400, "invalid_request"),
    "subscribe_bad_collections": (
        '{"type": "subscribe", "space": "frames", "collections": "a b"}', 4400, "invalid_request"),
    "unsubscribe_without_space": ('{"type": "unsubscribe"}', 4400, "invalid_request"),
    "push_mutations_not_a_list": ('{"type": "push", "client_id": "c", "mutations": {}}', 4400,
                                  "invalid_request"),
    "push_without_client_id": ('{"type": "push", "mutations": []}', 4400, "invalid_request"),
    "push_bad_request_id": (
        '{"type": "push", "request_id": {}, "client_id": "c", "mutations": []}', 4400,
        "invalid_request"),
    # A number a double cannot hold, too large or (issue 18) too small: before, 1e-400 was
    # stored as 0.0.
    "push_1e400": (_push_of_number("1e400"), 4400, "malformed_json"),
    "push_1e_minus_400": (_push_of_number("1e-400"), 4400, "malformed_json"),
    "push_minus_2e_minus_324": (_push_of_number("-2e-324"), 4400, "malformed_json"),
}


@pytest.mark.parametrize("frame, close_code, code", CLOSING_FRAMES.values(),
                         ids=CLOSING_FRAMES.keys())
def test_garbage_frame_gets_an_error_and_a_close_code(limited_server, seeded, frame,
                                                      close_code, code):
    before = snapshot(limited_server.db)

    async def scenario() -> None:
        async with connect(limited_server.ws_url) as ws:
            await ws.send(frame)
            messages, got = await asyncio.wait_for(_closed_after(ws), 10)
            assert got == close_code
            assert len(messages) == 1 and messages[0]["type"] == "error", messages
            assert messages[0]["code"] == code and messages[0]["detail"]

    asyncio.run(scenario())
    assert snapshot(limited_server.db) == before


OPEN_ERRORS: dict[str, tuple[Any, str]] = {
    "cursor_garbage": (lambda k: "garbage", "bad_cursor"),
    "cursor_not_a_string": (lambda k: 12, "bad_cursor"),
    "cursor_forged_digits": (lambda k: k["forged"], "bad_cursor"),
    "cursor_of_another_space": (lambda k: k["other_space"], "bad_cursor"),
}


@pytest.mark.parametrize("cursor, code", OPEN_ERRORS.values(), ids=OPEN_ERRORS.keys())
def test_bad_cursor_in_subscribe_gets_an_error_and_the_connection_stays_open(
        limited_server, seeded, cursor, code):
    before = snapshot(limited_server.db)

    async def scenario() -> None:
        async with connect(limited_server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": SPACE, "cursor": cursor(seeded)})
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["code"] == code and msg["space"] == SPACE
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}
            await send(ws, {"type": "subscribe", "space": SPACE, "cursor": ""})
            msg = await recv(ws)
            assert msg["type"] == "changes" and [c["id"] for c in msg["changes"]] == ["a"]

    asyncio.run(scenario())
    assert snapshot(limited_server.db) == before


def test_oversized_push_over_websocket_is_refused_and_the_connection_stays_open(
        limited_server, seeded):
    before = snapshot(limited_server.db)
    batch = [mutation(i, f"n{i}", space=SPACE) for i in range(1, 12)]

    async def scenario() -> None:
        async with connect(limited_server.ws_url) as ws:
            await ws.send(orjson.dumps({"type": "push", "request_id": "big",
                                        "client_id": "c-big", "mutations": batch}).decode())
            msg = await recv(ws)
            assert msg["type"] == "error" and msg["code"] == "batch_too_large", msg
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}

    asyncio.run(scenario())
    assert snapshot(limited_server.db) == before


def test_bad_mutation_over_websocket_is_rejected_and_changes_no_data(limited_server, seeded):
    before = snapshot(limited_server.db)["records"]

    async def scenario() -> None:
        async with connect(limited_server.ws_url) as ws:
            await send(ws, {"type": "push", "request_id": 7, "client_id": "c-ws-bad",
                            "mutations": [{**mutation(1, "z", space=SPACE), "op": "zap"}]})
            msg = await recv(ws)
            assert msg["type"] == "push_result" and msg["request_id"] == 7
            assert [(r["status"], r["code"]) for r in msg["results"]] == [
                ("rejected", "unknown_op")]

    asyncio.run(scenario())
    assert snapshot(limited_server.db)["records"] == before
