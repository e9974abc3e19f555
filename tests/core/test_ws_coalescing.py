"""Live frames coalesced per connection (transport/ws/coalesce.py): batches published
before a connection's flush go out in one socket write, in feed order; when the loop keeps
up, one frame per write; the flush takes the dirty connections a slice at a time.

The server runs in the test's own event loop (`syncserver serve`'s protocols, a real
socket, a real SQLite file), so that the test knows what one turn of the loop holds: three
pushes started together are committed in one group and published in one turn, before the
flush that the first of them scheduled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect

from syncserver.config.metrics import Metrics
from syncserver.config.settings import Settings
from syncserver.ops.app import create_app
from syncserver.transport.serving import GracefulServer, bind
from syncserver.transport.timeouts import HeaderLimits, OpenConnections, protocols
from syncserver.transport.ws.coalesce import Coalescer, Tally
from tests.helpers import metric_value, mutation, stamped_by
from tests.server import free_port

from .test_websocket import catch_up, recv, send

SUBSCRIBERS = 3
BATCHES = 3
SPACE = "coalesced"


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Starlette, str]]:
    """`syncserver serve`'s app and protocols in this event loop: (app, ws url)."""
    settings = Settings(db=str(tmp_path / "sync.db"), auth="none", demo=False)
    http, ws = protocols(HeaderLimits(settings.header_timeout, settings.max_header_bytes,
                                      settings.max_headers), OpenConnections(1_000))
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, ws=ws, http=http, ws_per_message_deflate=False,
                            log_level="warning", lifespan="on")
    server = GracefulServer(config, app.state.service)
    task = asyncio.create_task(server.serve(sockets=[bind("127.0.0.1", port)]))
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
        yield app, f"ws://127.0.0.1:{port}/v1/ws"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def live_counters(app: Starlette) -> tuple[float, float]:
    """(frames sent, socket writes) of the live fan-out, from the app's metrics."""
    text = app.state.service.metrics.render().decode()
    return (metric_value(text, "syncserver_ws_live_frames_sent_total"),
            metric_value(text, "syncserver_ws_live_writes_total"))


async def subscribed(url: str) -> list[ClientConnection]:
    sockets = [await connect(url, compression=None) for _ in range(SUBSCRIBERS)]
    for ws in sockets:
        await send(ws, {"type": "subscribe", "space": SPACE, "cursor": ""})
        await catch_up(ws, SPACE)
    return sockets


async def push(app: Starlette, client: str, record: str) -> Any:
    body = {"client_id": client,
            "mutations": stamped_by(client, [mutation(1, record, space=SPACE)])}
    return orjson.loads(await app.state.service.push(body))


async def flushed(app: Starlette, frames: float) -> tuple[float, float]:
    """The live counters once `frames` were sent (the flush runs on a later turn)."""
    for _ in range(200):
        now = live_counters(app)
        if now[0] >= frames:
            return now
        await asyncio.sleep(0.01)
    return live_counters(app)


def test_batches_published_before_the_flush_go_out_in_one_write_in_order(tmp_path):
    async def scenario() -> None:
        async with serving(tmp_path) as (app, url):
            sockets = await subscribed(url)
            frames0, writes0 = live_counters(app)
            # Started in one turn: committed in one group, published in one turn.
            await asyncio.gather(*(push(app, f"w{i}", f"r{i}") for i in range(BATCHES)))
            frames, writes = await flushed(app, frames0 + SUBSCRIBERS * BATCHES)
            assert frames - frames0 == SUBSCRIBERS * BATCHES
            assert writes - writes0 == SUBSCRIBERS, "one write per connection"
            for ws in sockets:
                got = [await recv(ws) for _ in range(BATCHES)]
                seqs = [c["seq"] for msg in got for c in msg["changes"]]
                assert seqs == sorted(seqs) and len(set(seqs)) == BATCHES, got
                assert all(msg["live"] for msg in got)
                assert len({msg["cursor"] for msg in got}) == BATCHES
            for ws in sockets:
                await ws.close()

    asyncio.run(scenario())


def test_a_batch_alone_goes_out_at_once_one_frame_per_write(tmp_path):
    async def scenario() -> None:
        async with serving(tmp_path) as (app, url):
            sockets = await subscribed(url)
            for n in range(BATCHES):
                frames0, writes0 = live_counters(app)
                await push(app, f"w{n}", f"alone{n}")
                for ws in sockets:
                    msg = await recv(ws)
                    assert [c["id"] for c in msg["changes"]] == [f"alone{n}"]
                frames, writes = await flushed(app, frames0 + SUBSCRIBERS)
                assert (frames - frames0, writes - writes0) == (SUBSCRIBERS, SUBSCRIBERS)
            for ws in sockets:
                await ws.close()

    asyncio.run(scenario())


class Written:
    """A connection as the coalescer sees it: it notes the turn of each of its writes."""

    def __init__(self, turns: list[int], log: list[tuple[int, int]], name: int) -> None:
        self.turns, self.log, self.name = turns, log, name

    def write_staged(self, tally: Tally) -> None:
        self.log.append((self.turns[0], self.name))
        tally.frames += 1
        tally.writes += 1


def test_the_flush_takes_a_slice_per_turn_of_the_loop_in_order():
    async def scenario() -> None:
        coalescer = Coalescer(Metrics(), slice_size=2)
        turns, log = [0], []
        connections = [Written(turns, log, n) for n in range(5)]
        for c in connections:
            coalescer.mark(c)
        for _ in range(5):
            await asyncio.sleep(0)
            turns[0] += 1
        assert log == [(0, 0), (0, 1), (1, 2), (1, 3), (2, 4)]
        assert not coalescer.scheduled and not coalescer.dirty

    asyncio.run(scenario())
