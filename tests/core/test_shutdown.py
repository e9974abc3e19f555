"""Shutdown: on SIGTERM or SIGINT the server ends open long-polls (an empty page with the
current cursor) and WebSockets (close code 1001, going away) at once, exits within about
two seconds, and keeps every acknowledged write."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import metric_value, mutation, pull_all, push, wait_for
from tests.server import ServerProcess

from .test_websocket import catch_up, send

SPACE = "bye"


async def _subscribe_then_wait_for_close(url: str, ready: threading.Event) -> tuple[int, float]:
    """(close code, when) of a subscribed, caught-up connection the server closes."""
    async with connect(url) as ws:
        await send(ws, {"type": "subscribe", "space": SPACE})
        await catch_up(ws, SPACE)
        ready.set()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 30)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "the server closed without a close frame"
            return closed.rcvd.code, time.monotonic()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_ends_long_polls_and_websockets_at_once_and_keeps_acknowledged_writes(
        tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "sync.db"
    server = ServerProcess(db).start()
    with httpx.Client(base_url=server.url, timeout=90) as c:
        acked = push(c, "c-bye", [mutation(1, "kept", space=SPACE)])
        cursor = acked["cursors"][SPACE]
    assert acked["results"][0]["status"] == "applied"

    ws_ready = threading.Event()
    ws_outcome: list[tuple[int, float]] = []
    ws_thread = threading.Thread(target=lambda: ws_outcome.append(asyncio.run(
        _subscribe_then_wait_for_close(server.ws_url, ws_ready))))
    ws_thread.start()
    poll_outcome: list[tuple[httpx.Response | httpx.HTTPError, float]] = []

    def long_poll() -> None:
        try:
            r: httpx.Response | httpx.HTTPError = httpx.get(
                server.url + "/v1/changes", timeout=90,
                params={"space": SPACE, "since": cursor, "wait": 60})
        except httpx.HTTPError as exc:  # the server went away without answering
            r = exc
        poll_outcome.append((r, time.monotonic()))

    poll_thread = threading.Thread(target=long_poll)
    poll_thread.start()
    assert ws_ready.wait(10), "the WebSocket did not catch up"
    wait_for(lambda: metric_value(httpx.get(server.url + "/metrics").text,
                                  "syncserver_long_polls_waiting") == 1,
             what="the long-poll waiting in the server")
    assert not poll_outcome, "the long-poll answered before any change"

    assert server.proc is not None
    signalled = time.monotonic()
    server.proc.send_signal(sig)
    try:
        server.proc.wait(10)
    finally:
        server.kill()
    exited = time.monotonic() - signalled
    poll_thread.join(10)
    ws_thread.join(10)
    assert exited < 3.0, f"the server took {exited:.1f}s to stop"

    response, answered = poll_outcome[0]
    assert isinstance(response, httpx.Response), f"the long-poll got no answer: {response!r}"
    assert response.status_code == 200, response.text
    page = orjson.loads(response.content)
    assert page["changes"] == [] and page["more"] is False and page["cursor"] == cursor
    assert answered - signalled < 2.0
    code, closed = ws_outcome[0]
    assert code == 1001, f"close code {code}, documented: 1001 (going away)"
    assert closed - signalled < 2.0

    again = ServerProcess(db).start()
    try:
        with httpx.Client(base_url=again.url) as c:
            state, _ = pull_all(c, SPACE)
        assert state[("todos", "kept")]["version"] == 1
    finally:
        again.stop()
