"""Guarantee 4 for a slow WebSocket consumer with several subscriptions: when its
connection overflows, every subscription is told to resync from the cursor it last
received; no space's delivered changes have a gap, and resuming from those cursors yields
every change. (The bug this guards: frames of other spaces were dropped from the queue
after their subscriptions' cursors had passed them: seq 1, 10, 11, 12 with cursor 12.)"""

from __future__ import annotations

import asyncio

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import metric_value, mutation, wait_for_async

from .test_websocket import catch_up, recv, send

SPACES = ["slow-a", "slow-b", "slow-c"]
BIG = {"blob": "x" * 30_000}


def test_a_slow_consumer_of_several_spaces_resumes_every_space_without_a_gap(server_factory):
    server = server_factory(env={"SYNCSERVER_WS_QUEUE": "4"})
    written: dict[str, list[str]] = {s: [] for s in SPACES}

    async def writer(c: httpx.AsyncClient, space: str, stop: asyncio.Event) -> None:
        mid = 0
        while not stop.is_set():
            mid += 1
            r = await c.post("/v1/push", json={"client_id": "w-" + space, "mutations": [
                mutation(mid, f"r{mid}", space=space, data=BIG, node="w-" + space)]})
            assert r.status_code == 200
            written[space].append(f"r{mid}")

    async def scenario() -> tuple[dict[str, list[int]], dict[str, dict]]:
        # max_queue=1: once subscribed, the client reads nothing while writers go on in
        # every space, so the server's sends back up as to a phone on a bad link.
        async with connect(server.ws_url, max_queue=1, max_size=None) as ws, \
                httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            for space in SPACES:
                await send(ws, {"type": "subscribe", "space": space})
                await catch_up(ws, space)
            stop = asyncio.Event()
            writers = [asyncio.create_task(writer(c, s, stop)) for s in SPACES]

            async def given_up() -> bool:
                text = (await c.get("/metrics")).text
                return metric_value(text, "syncserver_ws_slow_consumers_total") == 1

            await wait_for_async(given_up, timeout=60, interval=0.05,
                                 what="the server giving up on the slow consumer")
            stop.set()
            await asyncio.gather(*writers)
            # Now read everything the server sent, up to its close.
            seqs: dict[str, list[int]] = {s: [] for s in SPACES}
            resyncs: dict[str, dict] = {}
            try:
                while True:
                    msg = await recv(ws)
                    if msg["type"] == "changes":
                        assert msg["space"] not in resyncs, "a change after the resync"
                        seqs[msg["space"]] += [ch["seq"] for ch in msg["changes"]]
                    else:
                        assert msg["type"] == "resync" and msg["code"] == "slow_consumer", msg
                        resyncs[msg["space"]] = msg
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4408
            return seqs, resyncs

    seqs, resyncs = asyncio.run(scenario())
    assert set(resyncs) == set(SPACES), "every subscription is told to resync"
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for space in SPACES:
            cursor = resyncs[space]["cursor"]
            last = int(cursor.split(".")[0])
            # Delivered: every seq up to the resync cursor, none missing, none beyond.
            assert seqs[space] == list(range(1, last + 1)), (space, seqs[space], cursor)
            # Resuming from that cursor yields every other change.
            rest = c.get("/v1/changes", params={"space": space, "since": cursor}).json()
            assert not rest["more"]
            got = [(ch["seq"], ch["id"]) for ch in rest["changes"]]
            assert [s for s, _ in got] == list(range(last + 1, len(written[space]) + 1))
            assert [i for _, i in got] == written[space][last:]
