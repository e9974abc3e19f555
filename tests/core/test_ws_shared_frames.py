"""The live fan-out encodes each batch's frame once (per collection filter) and writes the
same bytes to every subscriber (transport/ws/wire.py), counted by two metrics."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from syncserver.transport.ws.wire import text_frame
from tests.helpers import mutation
from tests.server import ServerProcess

from .support import metric
from .test_websocket import apush, catch_up, recv, send

SUBSCRIBERS = 4


def test_one_encoded_frame_per_batch_and_filter_whatever_the_subscribers(http, shared_server,
                                                                          space):
    def encoded_and_sent() -> tuple[float, float]:
        return (metric(http, "syncserver_ws_live_frames_encoded_total"),
                metric(http, "syncserver_ws_live_frames_sent_total"))

    def served() -> float:
        return metric(http, "syncserver_changes_served_total")

    async def scenario() -> None:
        sockets = [await connect(shared_server.ws_url, compression=None)
                   for _ in range(SUBSCRIBERS + 1)]
        try:
            everything, notes_only = sockets[:SUBSCRIBERS], sockets[SUBSCRIBERS]
            for ws in everything:
                await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
                await catch_up(ws, space)
            await send(notes_only, {"type": "subscribe", "space": space, "cursor": "",
                                    "collections": ["notes"]})
            await catch_up(notes_only, space)
            encoded, sent = encoded_and_sent()
            changes_served = served()
            await apush(shared_server.url, "c-shared-" + space,
                        [mutation(1, "e1", space=space),
                         mutation(2, "n1", space=space, collection="notes")])
            frames = [await asyncio.wait_for(ws.recv(), 10) for ws in everything]
            assert len(set(frames)) == 1  # the same frame for every unfiltered subscriber
            filtered = await recv(notes_only)
            assert [c["id"] for c in filtered["changes"]] == ["n1"]
            # one encoding per filter (none and {"notes"}), one send per subscriber
            for _ in range(50):  # the tally reaches the metrics on the loop's next turn
                now = encoded_and_sent()
                if now[1] - sent >= SUBSCRIBERS + 1:
                    break
                await asyncio.sleep(0.05)
            assert (now[0] - encoded, now[1] - sent) == (2, SUBSCRIBERS + 1)
            # the changes each subscriber was sent: both, and the filtered one only "n1"
            assert served() - changes_served == SUBSCRIBERS * 2 + 1
        finally:
            for ws in sockets:
                await ws.close()

    asyncio.run(scenario())


def test_a_compressing_connection_gets_its_frames_through_the_asgi_send(tmp_path):
    """Per-message deflate offered by the server (not `syncserver serve`'s choice): the
    shared uncompressed bytes must not reach a connection that negotiated it; it gets the
    frame through uvicorn's send, compressed, and a plain one beside it the shared bytes."""
    server = ServerProcess(tmp_path / "deflate.db",
                           command=[sys.executable, str(Path(__file__).with_name(
                               "deflate_serve.py"))]).start()
    space = "deflated"

    async def scenario() -> None:
        async with connect(server.ws_url) as deflating, \
                connect(server.ws_url, compression=None) as plain:
            assert deflating.protocol.extensions, "per-message deflate was negotiated"
            deflate = deflating.protocol.extensions[0]
            decode = deflate.decode
            compressed: list[bool] = []  # per frame received: was it compressed (RSV1)?

            def noting(frame: Frame, *, max_size: int | None = None) -> Frame:
                compressed.append(frame.rsv1)
                return decode(frame, max_size=max_size)

            deflate.decode = noting  # type: ignore[method-assign]
            for ws in (deflating, plain):
                await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
                await catch_up(ws, space)
            await apush(server.url, "c-deflate", [mutation(1, "big", space=space,
                                                           data={"text": "z" * 5000})])
            for ws in (deflating, plain):
                msg = await recv(ws)
                assert [c["id"] for c in msg["changes"]] == ["big"]
            assert compressed[-1] is True, "the live frame was compressed for its connection"

    try:
        asyncio.run(scenario())
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert metric(c, "syncserver_ws_live_frames_sent_total") == 2
    finally:
        server.stop()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_the_shared_frame_is_the_frame_websockets_would_send(size: int) -> None:
    payload = b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


def test_live_metrics_are_exposed(http: httpx.Client):
    text = http.get("/metrics").text
    assert "syncserver_ws_live_frames_encoded_total" in text
    assert "syncserver_ws_live_frames_sent_total" in text
