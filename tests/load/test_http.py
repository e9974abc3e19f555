"""The tool's HTTP client on a real socket: keep-alive, and a connection the server closed
while idle (uvicorn closes them after 5 s by default) is replaced without an error."""

from __future__ import annotations

import asyncio

import orjson

from load.http import HttpConnection
from tests.helpers import wait_for_async
from tests.load.toy_server import RunningToy, ToyServer


def test_a_connection_closed_while_idle_is_reopened_transparently():
    async def scenario(url: str) -> list[int]:
        conn = HttpConnection(url)
        statuses = []
        try:
            for _ in range(3):
                response = await conn.request("GET", "/healthz")
                assert response is not None
                assert orjson.loads(response.body)["status"] == "ok"
                statuses.append(response.status)
                reader = conn._reader
                assert reader is not None
                await wait_for_async(reader.at_eof,  # it closes idle connections at once
                                     what="the server closing the idle connection")
        finally:
            await conn.close()
        return statuses

    with RunningToy(ToyServer(), keep_alive=0) as toy:
        assert asyncio.run(scenario(toy.url)) == [200, 200, 200]


def test_requests_share_one_keep_alive_connection():
    async def scenario(url: str) -> int:
        conn = HttpConnection(url)
        try:
            await conn.request("GET", "/healthz")
            writer = conn._writer
            for _ in range(20):
                await conn.request("GET", "/v1/changes?space=s&since=&limit=5")
            return 1 if conn._writer is writer else 0
        finally:
            await conn.close()

    with RunningToy(ToyServer()) as toy:
        assert asyncio.run(scenario(toy.url)) == 1
