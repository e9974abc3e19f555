"""The Web Push endpoints' refusals (a clear 4xx, nothing stored), the key, the switch,
and POST /v1/notify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from syncserver.model.errors import ErrorCode, SyncError
from syncserver.webpush.endpoints import check_endpoint
from tests.helpers import assert_problem, wait_for
from tests.server import ServerProcess
from tests.webpush.pushservice import PushService
from tests.webpush.support import client, env, register, write


def stored(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0] + \
            conn.execute("SELECT count(*) FROM push_spaces").fetchone()[0]


@pytest.mark.parametrize("url", [
    "http://push.example.com/x",  # not https
    "https://127.0.0.1/x", "https://10.1.2.3/x", "https://192.168.0.1/x",
    "https://169.254.169.254/latest", "https://[::1]/x", "https://[fe80::1]/x",
    "https://[::ffff:10.0.0.1]/x", "https://100.64.0.1/x", "https://0.0.0.0/x",
    "https://localhost/x", "https://printer.local/x", "https://db.internal/x",
    "https://intranet/x", "https://127.1/x", "https://0x7f.1/x", "https://2130706433/x",
    "https://user:pw@push.example.com/x", "ftp://push.example.com/x", "https:///x",
    "https://push.example.com:0/x", "https://push.example.com/" + "a" * 3000, "",
    "https://push example.com/x",
])
def test_endpoints_that_are_not_public_https_hosts_are_refused(url: str) -> None:
    with pytest.raises(SyncError) as refused:
        check_endpoint(url, allow_loopback=False)
    assert refused.value.code == ErrorCode.INVALID_REQUEST


def test_public_https_endpoints_pass_and_loopback_only_with_the_setting() -> None:
    for url in ("https://fcm.googleapis.com/fcm/send/abc",
                "https://updates.push.services.mozilla.com/wpush/v2/x",
                "https://web.push.apple.com/QO", "https://8.8.8.8/x"):
        assert check_endpoint(url, allow_loopback=False) == url
    assert check_endpoint("http://127.0.0.1:9/x", allow_loopback=True)
    with pytest.raises(SyncError):  # the setting allows this machine, not the network
        check_endpoint("http://10.0.0.1/x", allow_loopback=True)


def test_hostile_registrations_are_refused_and_store_nothing(
        server_factory, push_service: PushService, tmp_path: Path) -> None:
    server: ServerProcess = server_factory(env=env(SYNCSERVER_WEBPUSH_ALLOW_LOOPBACK="0"))
    good = push_service.device("d").subscription()
    private = {**good, "endpoint": "https://192.168.1.10/push"}
    loopback = good  # http://127.0.0.1: refused without the setting
    keys = good["keys"]
    bodies: list[tuple[object, int, str]] = [
        ({"client_id": "c1", "subscription": private, "spaces": ["team"]}, 400,
         "invalid_request"),
        ({"client_id": "c1", "subscription": loopback, "spaces": ["team"]}, 400,
         "invalid_request"),
        ({"client_id": "c1", "subscription": {**private, "endpoint": "https://p.example.com/x",
                                              "keys": {**keys, "p256dh": "A" * 5000}},
          "spaces": ["team"]}, 400, "invalid_request"),
        ({"client_id": "c1", "subscription": {"endpoint": "https://p.example.com/x",
                                              "keys": {**keys, "p256dh": "AAAA"}},
          "spaces": ["team"]}, 400, "invalid_request"),
        ({"client_id": "c1", "subscription": {"endpoint": "https://p.example.com/x",
                                              "keys": {**keys, "auth": 12}},
          "spaces": ["team"]}, 400, "invalid_request"),
        ({"client_id": "c1", "subscription": {"endpoint": "https://p.example.com/x",
                                              "keys": keys}, "spaces": ["not-mine"]}, 403,
         "forbidden"),
        ({"client_id": "c1", "subscription": {"endpoint": "https://p.example.com/x",
                                              "keys": keys}, "spaces": "team"}, 400,
         "invalid_request"),
        ({"client_id": "c1", "subscription": {"endpoint": "https://p.example.com/x",
                                              "keys": keys}, "spaces": []}, 400,
         "invalid_request"),
        ({"client_id": "bad id!", "subscription": good, "spaces": ["team"]}, 400,
         "invalid_request"),
        ({"client_id": "c1", "subscription": "x", "spaces": ["team"]}, 400, "invalid_request"),
        ([1, 2], 400, "invalid_request"),
        ("null", 400, "invalid_request"),
    ]
    with client(server.url, "alice") as alice:
        for body, status, code in bodies:
            assert_problem(alice.post("/v1/webpush/subscriptions", json=body), status, code)
        garbage = alice.post("/v1/webpush/subscriptions", content=b"{nope",
                             headers={"content-type": "application/json"})
        assert_problem(garbage, 400, "malformed_json")
        huge = alice.post("/v1/webpush/subscriptions", content=b"[" + b"1," * 20_000 + b"1]",
                          headers={"content-type": "application/json"})
        assert 400 <= huge.status_code < 500
        assert_problem(httpx.post(server.url + "/v1/webpush/subscriptions", json=bodies[0][0]),
                       401, "unauthorized")
        assert_problem(alice.delete("/v1/webpush/subscriptions",
                                    params={"client_id": "bad id!"}), 400, "invalid_request")
    assert stored(tmp_path / "sync.db") == 0


def test_registering_again_replaces_and_delete_removes(
        server_factory, push_service: PushService, tmp_path: Path) -> None:
    server: ServerProcess = server_factory(env=env())
    old, new = push_service.device("old"), push_service.device("new")
    with client(server.url, "alice") as alice:
        assert register(alice, "c1", old.subscription(), ["team"]).status_code == 201
        assert register(alice, "c1", new.subscription(), ["team"]).status_code == 201
        write(alice, "c-writer", 1)
        wait_for(lambda: new.received, what="the nudge to the new endpoint")
        assert old.received == []
        assert alice.delete("/v1/webpush/subscriptions",
                            params={"client_id": "c1"}).status_code == 204
        assert alice.delete("/v1/webpush/subscriptions",
                            params={"client_id": "c1"}).status_code == 204  # none: 204 too
    assert stored(tmp_path / "sync.db") == 0


def test_a_client_id_of_another_user_and_too_many_devices_are_refused(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env(SYNCSERVER_WEBPUSH_MAX_SUBSCRIPTIONS="2"))
    sub = push_service.device("d").subscription()
    with client(server.url, "alice") as alice, client(server.url, "bob") as bob:
        write(bob, "c-bob", 1)  # binds c-bob to bob
        assert_problem(register(alice, "c-bob", sub, ["team"]), 403, "forbidden")
        assert register(alice, "c1", sub, ["team"]).status_code == 201
        assert register(alice, "c2", sub, ["team"]).status_code == 201
        assert register(alice, "c2", sub, ["team"]).status_code == 201  # a replacement
        assert_problem(register(alice, "c3", sub, ["team"]), 429, "too_many_subscriptions")


def test_web_push_is_off_without_a_key(live_server: ServerProcess) -> None:
    for method, path in (("GET", "/v1/webpush/key"), ("POST", "/v1/webpush/subscriptions"),
                         ("DELETE", "/v1/webpush/subscriptions"), ("POST", "/v1/notify")):
        answer = httpx.request(method, live_server.url + path, json={})
        assert_problem(answer, 404, "webpush_disabled")


def test_dev_mode_keeps_its_generated_key_across_a_restart(server_factory,
                                                           tmp_path: Path) -> None:
    first: ServerProcess = server_factory(args=("--dev",))
    key = httpx.get(first.url + "/v1/webpush/key").json()["public_key"]
    assert len(key) == 87  # 65 bytes, base64url
    first.stop()
    second: ServerProcess = server_factory(args=("--dev",))
    assert httpx.get(second.url + "/v1/webpush/key").json()["public_key"] == key


def test_notify_reaches_other_users_devices_not_the_senders_and_is_rate_limited(
        server_factory, push_service: PushService) -> None:
    server: ServerProcess = server_factory(env=env(SYNCSERVER_WEBPUSH_NOTIFY_RATE="2"))
    alice_phone, alice_laptop, bob_phone = (push_service.device(n)
                                            for n in ("ap", "al", "bp"))
    reader = {"team": "r", "user-{sub}": "rw"}
    with client(server.url, "alice") as alice, client(server.url, "bob", reader) as bob:
        assert register(alice, "c-ap", alice_phone.subscription(), ["team"]).status_code == 201
        assert register(alice, "c-al", alice_laptop.subscription(), ["team"]).status_code == 201
        assert register(bob, "c-bp", bob_phone.subscription(), ["team"]).status_code == 201
        note = {"space": "team", "title": "Milk", "body": "2 new items", "url": "/list/1",
                "tag": "list-1"}
        answer = alice.post("/v1/notify", json=note)
        assert answer.status_code == 202 and answer.json() == {"devices": 1}, answer.text
        wait_for(lambda: bob_phone.received, what="bob's notification")
        [push] = bob_phone.received
        assert push.payload == {"type": "notify", **note}
        assert push.headers["urgency"] == "high"
        assert alice_phone.received == alice_laptop.received == []
        # bob only reads the space: he may not notify it
        assert_problem(bob.post("/v1/notify", json=note), 403, "forbidden")
        for bad in ({**note, "title": ""}, {**note, "title": "x" * 201},
                    {**note, "url": "https://evil.example/"}, {**note, "url": "//evil"},
                    {**note, "tag": 5}, {**note, "space": "bad space"}, {"title": "x"},
                    {**note, "body": "\u0001" * 999}, [note]):
            assert_problem(alice.post("/v1/notify", json=bad), 400, "invalid_request")
        assert alice.post("/v1/notify", json=note).status_code == 202  # the burst: 2
        limited = assert_problem(alice.post("/v1/notify", json=note), 429, "rate_limited")
        assert limited["retry_after"] >= 1
