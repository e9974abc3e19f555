"""Many spaces on one WebSocket: the `welcome` names what the token grants (a refresh that
adds a space shows it), and one socket follows hundreds of spaces subscribed in one burst."""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.asyncio.client import connect

from tests.server import ServerProcess

from . import keys
from .test_ws_auth import hello, recv, send, ws_url

BURST = 300  # spaces subscribed on one socket at once: past the default limit of 20


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
    """Past the default limit (20), as a deployment whose users hold many spaces sets it."""
    spaces = [f"{space}-{i}" for i in range(BURST)]
    server = ServerProcess(tmp_path / "sync.db", env={
        "SYNCSERVER_AUTH": "none", "SYNCSERVER_WS_MAX_SUBSCRIPTIONS": str(BURST)}).start()

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
