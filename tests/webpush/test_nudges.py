"""Sync nudges from a real server to a local push service: what arrives, decrypted; who is
not nudged; coalescing; what a push service's answers do (410, 404, 429)."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
from websockets.asyncio.client import connect

from syncserver.webpush.sender import topic
from tests.helpers import metric_value, wait_for
from tests.server import ServerProcess
from tests.webpush.pushservice import PushService
from tests.webpush.support import client, env, register, write


def metric(url: str, name: str, labels: str = "") -> float:
    return metric_value(httpx.get(url + "/metrics").text, name, labels)


def test_a_change_nudges_the_other_devices_with_an_encrypted_sync_payload(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env())
    phone, laptop, bobs = (push_service.device(n) for n in ("phone", "laptop", "bob"))
    with client(server.url, "alice") as alice, client(server.url, "bob") as bob:
        key = httpx.get(server.url + "/v1/webpush/key").json()["public_key"]
        answer = register(alice, "c-phone", phone.subscription(), ["team", "user-{sub}"])
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"client_id": "c-phone", "spaces": ["team", "user-alice"]}
        assert register(alice, "c-laptop", laptop.subscription(), ["team"]).status_code == 201
        assert register(bob, "c-bob", bobs.subscription(), ["team"]).status_code == 201

        head = write(alice, "c-laptop", 1)
        wait_for(lambda: phone.received and bobs.received, what="the nudges")
        for device in (phone, bobs):
            [push] = device.received
            assert push.problem is None, push.problem
            assert push.payload == {"type": "sync", "space": "team", "head": head}
            assert push.vapid_key == key  # signed with the key the server publishes
            assert push.claims["sub"] == "mailto:ops@example.com"
            assert push.claims["aud"] == push_service.url
            assert push.headers["ttl"] == "86400"
            assert push.headers["urgency"] == "normal"
            assert push.headers["topic"] == topic("sync", "team")
            assert len(push.headers["topic"]) <= 32
        # The writer's own device is not nudged; its private space was not written.
        wait_for(lambda: metric(server.url, "syncserver_webpush_sent_total", 'kind="sync"')
                 == 2, what="both sends counted")
        assert laptop.received == []
        assert phone.payloads == [{"type": "sync", "space": "team", "head": head}]


def test_a_device_live_on_a_websocket_following_the_space_is_not_nudged(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env())
    live, closed = push_service.device("live"), push_service.device("closed")
    with client(server.url, "alice") as alice:
        assert register(alice, "c-live", live.subscription(), ["team"]).status_code == 201
        assert register(alice, "c-closed", closed.subscription(), ["team"]).status_code == 201
        bearer = alice.headers["authorization"].removeprefix("Bearer ")

        async def main() -> None:
            async with connect(server.ws_url) as ws:
                await ws.send(orjson.dumps({"type": "hello", "client_id": "c-live",
                                            "token": bearer}).decode())
                assert orjson.loads(await ws.recv())["type"] == "welcome"
                await ws.send(orjson.dumps({"type": "subscribe", "space": "team"}).decode())
                while not orjson.loads(await ws.recv()).get("cursor"):
                    pass  # the catch-up's answer
                await asyncio.to_thread(write, alice, "c-writer", 1)
                assert (await asyncio.wait_for(ws.recv(), 10))  # the live change
                await asyncio.to_thread(wait_for, lambda: closed.received,
                                        what="the nudge of the closed device")
            # The socket is gone: the next change nudges that device too.
            await asyncio.to_thread(write, alice, "c-writer", 2)
            await asyncio.to_thread(wait_for, lambda: live.received, what="a nudge after")

        asyncio.run(main())
        assert live.payloads == [{"type": "sync", "space": "team", "head": 2}]
        assert [p["head"] for p in closed.payloads if p] == [1, 2]


def test_changes_within_the_interval_make_one_nudge_with_the_newest_head(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env(min_interval=2))
    phone = push_service.device("phone")
    with client(server.url, "alice") as alice:
        assert register(alice, "c-phone", phone.subscription(), ["team"]).status_code == 201
        first = time.monotonic()
        write(alice, "c-laptop", 1)
        wait_for(lambda: phone.received, what="the first nudge")
        for mid in (2, 3, 4):
            write(alice, "c-laptop", mid)
        wait_for(lambda: len(phone.received) == 2, what="the held nudge", timeout=15)
        assert [p["head"] for p in phone.payloads if p] == [1, 4]
        assert phone.received[1].at - first >= 2.0 - 0.05  # not before the interval ended
        assert metric(server.url, "syncserver_webpush_coalesced_total") >= 2


def test_a_subscription_answered_410_or_404_is_removed(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env())
    gone, missing, kept = (push_service.device(n) for n in ("gone", "missing", "kept"))
    gone.answer(410)
    missing.answer(404)
    with client(server.url, "alice") as alice:
        for name, device in (("c-gone", gone), ("c-missing", missing), ("c-kept", kept)):
            assert register(alice, name, device.subscription(), ["team"]).status_code == 201
        write(alice, "c-writer", 1)
        wait_for(lambda: metric(server.url, "syncserver_webpush_subscriptions_dropped_total")
                 == 2, what="two subscriptions dropped")
        write(alice, "c-writer", 2)
        wait_for(lambda: len(kept.received) == 2, what="the second nudge")
        assert len(gone.received) == 1 and len(missing.received) == 1  # never again


def test_429_with_retry_after_is_retried_after_it_and_not_before(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env())
    phone = push_service.device("phone")
    phone.answer(429, Retry_After="2")
    with client(server.url, "alice") as alice:
        assert register(alice, "c-phone", phone.subscription(), ["team"]).status_code == 201
        write(alice, "c-writer", 1)
        wait_for(lambda: len(phone.received) == 2, what="the retry", timeout=15)
        first, retry = phone.received
        assert (first.answered, retry.answered) == (429, 201)
        assert retry.at - first.at >= 2.0 - 0.05
        assert retry.payload == first.payload == {"type": "sync", "space": "team", "head": 1}
        assert metric(server.url, "syncserver_webpush_retries_total") == 1


def test_a_space_with_more_offline_devices_than_the_queue_holds_nudges_every_one(
        server_factory, push_service: PushService) -> None:
    """The queue bounds what waits (SYNCSERVER_WEBPUSH_QUEUE), but the nudges of one change
    wait for room in it rather than push out the ones queued before them: a space of more
    devices than the queue holds is nudged whole, none dropped."""
    server: ServerProcess = server_factory(env=env(SYNCSERVER_WEBPUSH_QUEUE="3",
                                                   SYNCSERVER_WEBPUSH_SENDERS="1"))
    devices = [push_service.device(f"d{n}") for n in range(12)]
    with client(server.url, "bob") as bob, client(server.url, "alice") as alice:
        for n, device in enumerate(devices):
            assert register(bob, f"c-{n}", device.subscription(), ["team"]).status_code == 201
        head = write(alice, "c-alice", 1)
        wait_for(lambda: all(d.received for d in devices), timeout=30,
                 what="a nudge on every device")
        for device in devices:
            assert device.payloads == [{"type": "sync", "space": "team", "head": head}]
        assert metric(server.url, "syncserver_webpush_dropped_total") == 0
