"""WebSocket auth: a token in the hello or as the `bearer.<jwt>` subprotocol; nothing
before a valid hello (close 4401); an expiring token closes the socket unless a new hello
re-authenticates it; a re-authentication that drops a space ends its subscription."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.core.support import stored_records
from tests.helpers import mutation, stamped_by

from . import keys
from .conftest import bearer
from .support import stored_state

TIMEOUT = 10.0


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(message).decode())


async def closed_with(ws: ClientConnection, code: int) -> list[dict[str, Any]]:
    """The frames before the close, and the close code checked."""
    frames = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frames.append(await recv(ws))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code, closed.value
    return frames


async def hello(ws: ClientConnection, token: str) -> dict[str, Any]:
    await send(ws, {"type": "hello", "token": token})
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    return welcome


def ws_url(secured) -> str:
    return secured.server.ws_url


def _push_http(secured, token: str, client_id: str, mutations: list[dict]) -> dict:
    batch = {"client_id": client_id, "protocol": 2,
             "mutations": stamped_by(client_id, mutations)}
    r = httpx.post(f"{secured.url}/v1/push", json=batch, headers=bearer(token), timeout=30)
    assert r.status_code == 200, r.text
    out: dict = r.json()
    return out


@pytest.mark.parametrize("first", [
    {"type": "subscribe", "space": "anything", "cursor": ""},
    {"type": "push", "client_id": "c-x", "mutations": []},
    {"type": "hello"},
    {"type": "hello", "token": "not-a-jwt"},
])
def test_a_websocket_without_a_valid_hello_is_closed_4401(secured, space, first):
    before = stored_state(secured.server.db)

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            await send(ws, first)
            frames = await closed_with(ws, 4401)
            assert [f["code"] for f in frames] == ["unauthorized"]
            assert "not-a-jwt" not in frames[0]["detail"]

    asyncio.run(scenario())
    assert stored_state(secured.server.db) == before


def test_an_expired_or_forged_hello_token_is_closed_4401(secured, user, space):
    async def scenario(token: str) -> None:
        async with connect(ws_url(secured)) as ws:
            await send(ws, {"type": "hello", "token": token})
            frames = await closed_with(ws, 4401)
            assert [f["code"] for f in frames] == ["unauthorized"]

    asyncio.run(scenario(keys.hs(keys.claims(user, {space: "rw"}, ttl=-5))))
    asyncio.run(scenario(keys.alg_none(keys.claims(user, {space: "rw"}))))
    asyncio.run(scenario(keys.hs(keys.claims(user, {space: "rw"}), secret="z" * 40)))


def test_the_subprotocol_token_authenticates_and_is_never_echoed(secured, user, space):
    token = keys.hs(keys.claims(user, {space: "rw"}))
    _push_http(secured, token, f"c-{user}", [mutation(1, "a", space=space)])

    async def scenario() -> None:
        async with connect(ws_url(secured),
                           subprotocols=["syncserver.v2", f"bearer.{token}"]) as ws:
            assert ws.subprotocol == "syncserver.v2"
            assert token not in str(ws.response.headers)
            await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
            page = await recv(ws)
            assert page["type"] == "changes" and [c["id"] for c in page["changes"]] == ["a"]

    asyncio.run(scenario())


def test_a_bad_subprotocol_token_is_closed_4401(secured, user, space):
    token = keys.hs(keys.claims(user, {space: "rw"}, ttl=-5))

    async def scenario() -> None:
        async with connect(ws_url(secured),
                           subprotocols=["syncserver.v2", f"bearer.{token}"]) as ws:
            frames = await closed_with(ws, 4401)
            assert [f["code"] for f in frames] == ["unauthorized"]

    asyncio.run(scenario())


def test_subscribing_to_another_users_space_is_an_error_naming_it(secured, user, space):
    owner = keys.hs(keys.claims(user, {space: "rw"}))
    _push_http(secured, owner, f"c-{user}", [mutation(1, "a", space=space,
                                                      data={"pin": 1234})])
    intruder = keys.hs(keys.claims(user + "x", {space + "-x": "rw"}))

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            await hello(ws, intruder)
            await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
            error = await recv(ws)
            assert error == {"type": "error", "code": "forbidden", "space": space,
                             "detail": f"this token may not read space {space!r}"}
            await send(ws, {"type": "ping"})  # nothing of the space follows; still open
            assert await recv(ws) == {"type": "pong"}

    asyncio.run(scenario())


def test_pushing_to_another_users_space_over_websocket_is_rejected(secured, user, space):
    owner = keys.hs(keys.claims(user, {space: "rw"}))
    _push_http(secured, owner, f"c-{user}", [mutation(1, "a", space=space)])
    before = stored_records(secured.server.db, space)
    intruder = keys.hs(keys.claims(user + "x", {space + "-x": "rw"}))

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            await hello(ws, intruder)
            cid = f"c-{user}x"
            await send(ws, {"type": "push", "request_id": "r1", "client_id": cid,
                            "protocol": 2, "mutations": stamped_by(cid, [
                                mutation(1, "a", space=space, op="delete", base=1)])})
            answer = await recv(ws)
            assert answer["type"] == "push_result" and answer["request_id"] == "r1"
            assert [(r["status"], r["code"]) for r in answer["results"]] == [
                ("rejected", "forbidden")]
            # Someone else's client id: the whole push is refused, naming the request.
            await send(ws, {"type": "push", "request_id": "r2", "client_id": f"c-{user}",
                            "protocol": 2, "mutations": stamped_by(f"c-{user}", [
                                mutation(2, "b", space=space + "-x")])})
            refused = await recv(ws)
            assert refused["type"] == "error" and refused["code"] == "forbidden"
            assert refused["request_id"] == "r2" and refused["field"] == "client_id"

    asyncio.run(scenario())
    assert stored_records(secured.server.db, space) == before


def test_a_token_expiring_mid_session_closes_the_socket_4401(secured, user, space):
    token = keys.hs(keys.claims(user, {space: "rw"}, ttl=2))

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            welcome = await hello(ws, token)
            assert welcome["sub"] == user
            await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
            assert (await recv(ws))["type"] == "changes"
            assert (await recv(ws))["type"] == "synced"
            started = time.monotonic()
            frames = await closed_with(ws, 4401)
            assert frames[-1]["code"] == "unauthorized"
            assert time.monotonic() - started < 5

    asyncio.run(scenario())


def test_a_new_hello_before_expiry_keeps_the_socket_open(secured, user, space):
    short = keys.hs(keys.claims(user, {space: "rw"}, ttl=2))
    longer = keys.hs(keys.claims(user, {space: "rw"}, ttl=600))

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            await hello(ws, short)
            await send(ws, {"type": "subscribe", "space": space, "cursor": ""})
            assert (await recv(ws))["type"] == "changes"
            assert (await recv(ws))["type"] == "synced"
            await hello(ws, longer)
            await asyncio.sleep(3)  # past the first token's expiry
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}
            _push_http(secured, longer, f"c-{user}", [mutation(1, "late", space=space)])
            live = await recv(ws)
            assert live["type"] == "changes" and live["changes"][0]["id"] == "late"

    asyncio.run(scenario())


def test_a_hello_of_another_user_on_an_open_socket_is_refused(secured, user, space):
    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            await hello(ws, keys.hs(keys.claims(user, {space: "rw"})))
            await send(ws, {"type": "hello",
                            "token": keys.hs(keys.claims(user + "x", {space: "rw"}))})
            frames = await closed_with(ws, 4401)
            assert [f["code"] for f in frames] == ["unauthorized"]

    asyncio.run(scenario())


def test_a_re_authentication_that_drops_a_space_ends_its_subscription(secured, user, space):
    kept, dropped = space + "-kept", space + "-dropped"
    both = keys.hs(keys.claims(user, {kept: "rw", dropped: "rw"}))
    less = keys.hs(keys.claims(user, {kept: "rw"}))
    writer = keys.hs(keys.claims(user + "w", {kept: "rw", dropped: "rw"}))

    async def scenario() -> None:
        async with connect(ws_url(secured)) as ws:
            await hello(ws, both)
            for s in (kept, dropped):
                await send(ws, {"type": "subscribe", "space": s, "cursor": ""})
                assert (await recv(ws))["type"] == "changes"
                assert (await recv(ws))["type"] == "synced"
            await send(ws, {"type": "hello", "token": less})
            ended = await recv(ws)
            assert ended["type"] == "error" and ended["code"] == "forbidden"
            assert ended["space"] == dropped
            assert (await recv(ws))["type"] == "welcome"
            _push_http(secured, writer, f"c-{user}w", [mutation(1, "d", space=dropped),
                                                      mutation(2, "k", space=kept)])
            live = await recv(ws)  # only the kept space's change comes
            assert live["space"] == kept and [c["id"] for c in live["changes"]] == ["k"]
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}
            # Subscribing again is refused too.
            await send(ws, {"type": "subscribe", "space": dropped, "cursor": ""})
            assert (await recv(ws))["code"] == "forbidden"

    asyncio.run(scenario())
