"""The server's subscriptions over all connections are bounded (SYNCSERVER_MAX_SUBSCRIPTIONS):
with a per-connection limit sized for clients of hundreds of spaces, a flood of sockets
must not make the server hold a subscription per space each of them asks for. Every way a
subscription ends gives its place back (unsubscribe, a refreshed token, a replaced
subscription, the connection's close, a slow consumer's close), or the server would refuse
everyone once enough had come and gone."""

from __future__ import annotations

import asyncio

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import metric_value, mutation, wait_for_async

from .test_websocket import catch_up, recv, send

GAUGE = "syncserver_ws_subscriptions"


async def held(c: httpx.AsyncClient) -> float:
    return metric_value((await c.get("/metrics")).text, GAUGE)


async def until_held(c: httpx.AsyncClient, value: float) -> None:
    async def reads() -> bool:
        return await held(c) == value
    await wait_for_async(reads, what=f"{GAUGE} at {value:g}")


async def subscribe(ws: ClientConnection, space: str) -> None:
    await send(ws, {"type": "subscribe", "space": space})
    await catch_up(ws, space)


async def refused(ws: ClientConnection, space: str) -> dict:
    await send(ws, {"type": "subscribe", "space": space})
    answer = await recv(ws)
    assert answer["type"] == "error" and answer["space"] == space, answer
    assert answer["code"] == "too_many_subscriptions", answer
    return answer


def test_subscriptions_over_all_connections_are_bounded_and_given_back(server_factory):
    server = server_factory(env={"SYNCSERVER_MAX_SUBSCRIPTIONS": "6",
                                 "SYNCSERVER_WS_MAX_SUBSCRIPTIONS": "5"})

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c, \
                connect(server.ws_url) as a, connect(server.ws_url) as b:
            for k in range(5):
                await subscribe(a, f"a{k}")
            await subscribe(b, "b0")
            await until_held(c, 6)
            # The server is full: B is refused although its own connection has room, told
            # when to try again; A's own limit answers as before, without a retry_after.
            answer = await refused(b, "b1")
            assert answer["retry_after"] >= 1 and "SYNCSERVER_MAX_SUBSCRIPTIONS" in \
                answer["detail"], answer
            own = await refused(a, "a5")
            assert "retry_after" not in own and "SYNCSERVER_WS_MAX_SUBSCRIPTIONS" in \
                own["detail"], own
            # A subscription to a space already subscribed keeps its place.
            await subscribe(b, "b0")
            await until_held(c, 6)
            # Unsubscribing gives a place back: B takes it.
            await send(a, {"type": "unsubscribe", "space": "a0"})
            await until_held(c, 5)
            await subscribe(b, "b1")
            await until_held(c, 6)
        # Both connections closed: every place is back.
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            await until_held(c, 0)
            async with connect(server.ws_url) as d:
                for k in range(5):
                    await subscribe(d, f"d{k}")
                await until_held(c, 5)

    asyncio.run(scenario())


def test_a_refreshed_token_and_a_slow_consumer_give_their_places_back(server_factory):
    """The subscriptions a refreshed token no longer reads, and those of a connection
    closed as a slow consumer, leave the count."""
    server = server_factory(env={"SYNCSERVER_MAX_SUBSCRIPTIONS": "4",
                                 "SYNCSERVER_WS_QUEUE": "4"})
    big = {"blob": "x" * 60_000}

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            async with connect(server.ws_url, max_queue=1, max_size=None) as ws:
                for space in ("slow", "s1", "s2", "s3"):
                    await subscribe(ws, space)
                await until_held(c, 4)
                for mid in range(1, 400):  # the client reads nothing: a slow consumer
                    r = await c.post("/v1/push", json={"client_id": "w", "mutations": [
                        mutation(mid, f"r{mid}", space="slow", data=big, node="w")]})
                    assert r.status_code == 200
                    if metric_value((await c.get("/metrics")).text,
                                    "syncserver_ws_slow_consumers_total") == 1:
                        break
                else:
                    raise AssertionError("the server never gave up on the slow consumer")
                await until_held(c, 0)
                try:
                    while True:
                        await recv(ws)
                except ConnectionClosed:
                    pass

    asyncio.run(scenario())


def test_many_sockets_together_hold_no_more_than_the_server_wide_count(server_factory):
    """Fifty sockets each asking for 3 spaces at once, with the per-connection limit at 500:
    the server takes exactly 100 and refuses the other 50, whatever the order they came in;
    once they have gone, a late client is served."""
    server = server_factory(env={"SYNCSERVER_MAX_SUBSCRIPTIONS": "100",
                                 "SYNCSERVER_WS_MAX_SUBSCRIPTIONS": "500"})

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            sockets = [await connect(server.ws_url) for _ in range(50)]
            try:
                for k, ws in enumerate(sockets):
                    for n in range(3):  # three refusals at most: no socket is closed
                        await send(ws, {"type": "subscribe", "space": f"f{k}-{n}"})

                async def answers(ws: ClientConnection) -> list[str]:
                    seen: list[str] = []
                    while len(seen) < 3:
                        message = await recv(ws)
                        if message["type"] in ("synced", "error"):
                            seen.append(message.get("code", message["type"]))
                    return seen
                every = [a for seen in await asyncio.gather(*map(answers, sockets))
                         for a in seen]
                assert every.count("synced") == 100, every
                assert every.count("too_many_subscriptions") == 50, every
                await until_held(c, 100)
            finally:
                for ws in sockets:
                    await ws.close()
            await until_held(c, 0)
            async with connect(server.ws_url) as late:
                await subscribe(late, "late")
                await until_held(c, 1)

    asyncio.run(scenario())
