"""Many spaces on one WebSocket: the `welcome` names what the token grants (a refresh that
adds a space shows it), one socket follows hundreds of spaces subscribed in one burst with
the server's default limits, and the subscriptions a refresh ends leave the server's count."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.helpers import metric_value, wait_for_async
from tests.server import ServerProcess

from . import keys
from .test_ws_auth import hello, recv, send, ws_url

BURST = 200  # spaces subscribed on one socket at once: hundreds, the default limit


def test_the_welcome_lists_the_granted_spaces_and_a_refresh_shows_a_new_one(secured, user,
                                                                            space):
    shared, extra = space + "-shared", space + "-extra"
    first = keys.hs(keys.claims(user, {shared: "r", "user-{sub}": "rw"}))
    more = keys.hs(keys.claims(user, {shared: "r", "user-{sub}": "rw", extra: "rw"}))

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            welcome = await hello(ws, first)
            assert welcome["spaces"] == sorted(
                [{"space": shared, "mode": "r"}, {"space": f"user-{user}", "mode": "rw"}],
                key=lambda entry: entry["space"])
            await send(ws, {"type": "subscribe", "space": extra, "cursor": ""})
            assert (await recv(ws))["code"] == "forbidden"
            welcome = await hello(ws, more)
            assert {"space": extra, "mode": "rw"} in welcome["spaces"]
            assert len(welcome["spaces"]) == 3
            await send(ws, {"type": "subscribe", "space": extra, "cursor": ""})
            assert (await recv(ws))["type"] == "changes"
            assert (await recv(ws))["type"] == "synced"

    asyncio.run(scenario())


def test_hundreds_of_spaces_subscribed_in_one_burst_all_sync_on_one_socket(tmp_path: Path,
                                                                           space):
    spaces = [f"{space}-{i}" for i in range(BURST)]
    server = ServerProcess(tmp_path / "sync.db", env={"SYNCSERVER_AUTH": "none"}).start()

    async def scenario() -> None:
        async with connect(server.ws_url) as ws:
            for s in spaces:  # one burst: no frame waits for an answer
                await send(ws, {"type": "subscribe", "space": s, "cursor": ""})
            synced: set[str] = set()
            while len(synced) < BURST:
                frame = await recv(ws, timeout=60)
                assert frame["type"] in ("changes", "synced"), frame
                if frame["type"] == "synced":
                    synced.add(frame["space"])
            assert synced == set(spaces)
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_the_subscriptions_a_refresh_ends_leave_the_servers_count(tmp_path: Path, space):
    """Two spaces of three taken away by a refreshed token: their places are given back, so
    a server that was full takes new subscriptions (SYNCSERVER_MAX_SUBSCRIPTIONS)."""
    kept, gone = f"{space}-kept", [f"{space}-gone{i}" for i in range(2)]
    server = ServerProcess(tmp_path / "sync.db", env={
        "SYNCSERVER_AUTH": "jwt", "SYNCSERVER_JWT_SECRET": keys.SECRET,
        "SYNCSERVER_JWT_ISSUER": keys.ISSUER, "SYNCSERVER_JWT_AUDIENCE": keys.AUDIENCE,
        "SYNCSERVER_MAX_SUBSCRIPTIONS": "3"}).start()
    every = keys.hs(keys.claims("u1", {s: "r" for s in [kept, *gone]}))
    fewer = keys.hs(keys.claims("u1", {kept: "r"}))

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c, \
                connect(server.ws_url) as ws:
            async def held(value: float) -> None:
                async def reads() -> bool:
                    text = (await c.get("/metrics")).text
                    return metric_value(text, "syncserver_ws_subscriptions") == value
                await wait_for_async(reads, what=f"{value:g} subscriptions held")
            await hello(ws, every)
            for s in [kept, *gone]:
                await send(ws, {"type": "subscribe", "space": s, "cursor": ""})
                assert (await recv(ws))["type"] == "changes"
                assert (await recv(ws))["type"] == "synced"
            await held(3)
            await send(ws, {"type": "hello", "token": fewer})
            frames = [await recv(ws) for _ in range(len(gone) + 1)]
            assert {f["space"] for f in frames if f["type"] == "error"} == set(gone), frames
            assert [f["type"] for f in frames].count("welcome") == 1, frames
            await held(1)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
