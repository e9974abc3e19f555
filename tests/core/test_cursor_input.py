"""Guarantee 9 for cursors: whatever text a client sends as a cursor, the answer is a seq
or `bad_cursor` (HTTP 400, a WebSocket `error` frame naming the space), never a 500 and
never the end of the connection's other subscriptions."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from syncserver.core.cursor import CursorCodec
from syncserver.model.errors import ErrorCode, SyncError
from tests.helpers import assert_problem, mutation, push

from .test_websocket import apush, catch_up, recv, send

CODEC = CursorCodec(secrets.token_bytes(32), epoch="0123456789ab", legacy_epoch="0123456789ab")
REAL = CODEC.encode("s1", 42)


def _decoded(text: str) -> int | None:
    try:
        return CODEC.decode("s1", text)
    except SyncError as exc:
        assert exc.code == ErrorCode.BAD_CURSOR, exc.code
        return None


@settings(max_examples=1000, deadline=None)
@given(st.text() | st.from_regex(r"\A[0-9]{1,20}(\.[^.]*){0,3}\Z")
       | st.builds(lambda cut, tail: REAL[:cut] + tail, st.integers(0, len(REAL)), st.text()))
def test_any_text_decodes_to_a_seq_or_bad_cursor(text: str) -> None:
    seq = _decoded(text)
    if seq is not None:  # only the empty cursor and the one this codec issued decode
        assert (text, seq) in (("", 0), (REAL, 42))


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # URL-encodable


@pytest.mark.slow  # 5 s or more on a 2-core machine (--durations)
@settings(max_examples=150, deadline=None)
@given(TEXT.filter(bool) | st.builds("{}.{}".format, st.integers(0, 999), TEXT))
def test_any_text_as_since_over_http_is_bad_cursor(limited_server, text: str) -> None:
    with httpx.Client(base_url=limited_server.url, timeout=30) as c:
        r = c.get("/v1/changes", params={"space": "fuzzed", "since": text})
        assert_problem(r, 400, "bad_cursor")


NON_ASCII = ["é", "1.é", "42.ÿÿÿÿÿÿÿÿÿÿÿÿ", "4２", "1.\u00e9abc.def", "\x00", "1.\ud7ff"]


@pytest.mark.parametrize("cursor", NON_ASCII)
def test_non_ascii_cursor_over_http_is_bad_cursor(limited_server, cursor):
    with httpx.Client(base_url=limited_server.url, timeout=30) as c:
        r = c.get("/v1/changes", params={"space": "ascii", "since": cursor})
        assert_problem(r, 400, "bad_cursor")


def test_non_ascii_cursor_over_websocket_is_an_error_frame_and_spares_the_other_subscriptions(
        limited_server):
    url = limited_server.url
    with httpx.Client(base_url=url, timeout=30) as c:
        push(c, "na-seed", [mutation(1, "a1", space="na-a")])

    async def scenario() -> None:
        async with connect(limited_server.ws_url) as ws:
            await send(ws, {"type": "subscribe", "space": "na-a", "cursor": ""})
            changes, _ = await catch_up(ws, "na-a")
            assert [c["id"] for c in changes] == ["a1"]
            for cursor in NON_ASCII:
                await send(ws, {"type": "subscribe", "space": "na-b", "cursor": cursor})
                msg = await recv(ws)
                assert msg["type"] == "error" and msg["code"] == "bad_cursor", msg
                assert msg["space"] == "na-b" and msg["detail"]
            # The connection and its first subscription are unharmed.
            await apush(url, "na-w", [mutation(1, "a2", space="na-a")])
            msg = await recv(ws)
            assert msg["type"] == "changes" and msg["live"] is True, msg
            assert [c["id"] for c in msg["changes"]] == ["a2"]
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}

    asyncio.run(scenario())
