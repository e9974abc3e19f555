"""Fan-out between real server processes on one PostgreSQL database: a long-poll and a
WebSocket subscription on instance B are woken by a write pushed through instance A, by
the notification (the periodic check is set to an hour, so it cannot be what woke them)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.core.test_websocket import apush, catch_up, recv, send
from tests.helpers import metric_value, mutation, wait_for_async
from tests.server import ServerProcess

NO_CHECK = ("--fanout-catchup-interval", "3600")


def start_all(servers: list[ServerProcess]) -> None:
    threads = [threading.Thread(target=s.start, kwargs={"timeout": 60}) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in servers:
        assert s.proc is not None and s.proc.poll() is None, s.log.read_text()[-2000:]


def test_long_polls_and_websockets_wake_for_another_instances_writes(
        postgres_url: str, tmp_path: Path) -> None:
    a = ServerProcess(postgres_url, log=tmp_path / "a.log", args=NO_CHECK)
    b = ServerProcess(postgres_url, log=tmp_path / "b.log", args=NO_CHECK)
    try:
        start_all([a, b])

        async def main() -> None:
            async with httpx.AsyncClient(base_url=b.url, timeout=30) as cb, \
                    connect(b.ws_url) as ws:
                first = await cb.get("/v1/changes", params={"space": "s1"})
                cursor = first.json()["cursor"]
                await send(ws, {"type": "subscribe", "space": "s1", "cursor": cursor})
                assert await catch_up(ws, "s1") == ([], cursor)
                poll = asyncio.create_task(cb.get("/v1/changes", params={
                    "space": "s1", "since": cursor, "wait": 30}))

                async def waiting() -> bool:
                    text = (await cb.get("/metrics")).text
                    return metric_value(text, "syncserver_long_polls_waiting") == 1

                await wait_for_async(waiting, what="the long-poll waiting on b")
                assert not poll.done()
                started = time.monotonic()
                await apush(a.url, "c1", [mutation(1, "from-a"), mutation(2, "too")])
                live = await recv(ws, timeout=5)
                answered = await asyncio.wait_for(poll, 5)
                took = time.monotonic() - started
                assert live["type"] == "changes" and live["live"] is True, live
                assert [(c["id"], c["seq"]) for c in live["changes"]] == \
                    [("from-a", 1), ("too", 2)]
                assert answered.status_code == 200
                assert [c["id"] for c in answered.json()["changes"]] == ["from-a", "too"]
                assert took < 3, took
                # And the next one, from the cursor the live frame gave.
                await apush(a.url, "c2", [mutation(1, "next")])
                assert [c["seq"] for c in (await recv(ws, timeout=5))["changes"]] == [3]
                metrics = (await cb.get("/metrics")).text
                assert "syncserver_fanout_ranges_read_total 2.0" in metrics, metrics

        asyncio.run(main())
    finally:
        a.stop()
        b.stop()
    for s in (a, b):
        assert "Traceback" not in s.log.read_text()
