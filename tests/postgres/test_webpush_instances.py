"""Web Push with two server instances on one PostgreSQL database: a change is nudged once,
by the instance that committed it (the other one's fan-out republishes it to its own
subscribers but nudges nobody), and a subscription registered through one instance is
nudged by the other."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
from websockets.sync.client import connect

from tests.helpers import metric_value, wait_for
from tests.postgres.test_fanout_servers import start_all
from tests.server import ServerProcess
from tests.webpush.pushservice import PushService
from tests.webpush.support import client, env, register, write


def test_a_change_is_nudged_once_with_two_instances(postgres_url: str, tmp_path: Path) -> None:
    settings = env()  # one VAPID key for both instances
    a = ServerProcess(postgres_url, log=tmp_path / "a.log", env=settings,
                      args=("--fanout-catchup-interval", "0.2"))
    b = ServerProcess(postgres_url, log=tmp_path / "b.log", env=settings,
                      args=("--fanout-catchup-interval", "0.2"))
    with PushService() as service:
        phone = service.device("phone")
        try:
            start_all([a, b])
            with client(a.url, "alice") as on_a, client(b.url, "alice") as on_b:
                # registered through b; a learns of it from the database's version
                assert register(on_b, "c-phone", phone.subscription(), ["team"]).status_code \
                    == 201
                # a's index reloads within --fanout-catchup-interval (webpush/index.py)
                wait_for(lambda: metric_value(httpx.get(a.url + "/metrics").text,
                                              "syncserver_webpush_space_count") == 1,
                         what="a's index to hold the space registered through b")
                # A watcher on b follows the space: b's fan-out republishes a's changes there
                bearer = on_b.headers["authorization"].removeprefix("Bearer ")
                with connect(b.ws_url) as ws:
                    ws.send(orjson.dumps({"type": "hello", "client_id": "c-watch",
                                          "token": bearer}).decode())
                    ws.send(orjson.dumps({"type": "subscribe", "space": "team"}).decode())
                    for mid in range(1, 4):
                        head = write(on_a, "c-laptop", mid)
                        wait_for(lambda h=head: any(p and p["head"] == h
                                                    for p in phone.payloads),
                                 what=f"the nudge of head {head}")
                        while orjson.loads(ws.recv(timeout=10)).get("live") is not True:
                            pass  # until b published the change live
                # b published every change to its watcher, and only a nudged: once each
                assert [p["head"] for p in phone.payloads if p] == [1, 2, 3]
                both = [metric_value(httpx.get(s.url + "/metrics").text,
                                     "syncserver_webpush_sent_total", 'kind="sync"')
                        for s in (a, b)]
                assert both == [3, 0]
        finally:
            a.stop()
            b.stop()
