"""docs/deployment.md's load-balancer configuration, run as written (only its addresses
replaced, its certificate left out): nginx in front of three instances sharing one
PostgreSQL database, and the demo in Chromium through it. Two devices whose WebSockets are
held by different instances, and whose writes are pushed through a third, see each other's
changes live: the upgrade passes nginx, and the instances pass changes on to each other."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from playwright.sync_api import Browser
from websockets.asyncio.client import connect

from syncserver.config.settings import Settings
from tests import nginx
from tests.browser.demo_app import DemoPage, poll
from tests.helpers import wait_for
from tests.server import ServerProcess, free_port

SECTION = "### Behind a load balancer"
UPSTREAMS = ("10.0.0.11:8000", "10.0.0.12:8000", "10.0.0.13:8000")


def location(config: str, name: str) -> str:
    match = re.search(r"location " + re.escape(name) + r" \{(.*?)\n    \}", config, re.S)
    assert match, f"no location {name} in the configuration"
    return match.group(1)


def test_the_configuration_outlasts_a_long_poll_and_upgrades_the_websocket() -> None:
    config = nginx.doc_block(SECTION)
    defaults = Settings()
    feed = location(config, "/v1/changes")
    assert "proxy_buffering off;" in feed
    timeout = re.search(r"proxy_read_timeout (\w+);", feed)
    assert timeout and nginx.seconds(timeout.group(1)) > defaults.max_wait, feed
    body = re.search(r"client_max_body_size (\d+)m;", config)
    assert body and int(body.group(1)) * 1024 * 1024 >= defaults.max_batch_bytes
    ws = location(config, "= /v1/ws")
    assert "proxy_set_header Upgrade $http_upgrade;" in ws and "proxy_http_version 1.1;" in ws
    assert nginx.seconds(re.search(r"proxy_read_timeout (\w+);", ws).group(1)) > \
        defaults.ws_ping_interval  # type: ignore[union-attr]
    assert all(f"server {u} " in config for u in UPSTREAMS)


def render(ports: list[int], https_port: int, http_port: int) -> str:
    """The doc's block on local addresses: plain HTTP where it says 443 (127.0.0.1 is a
    secure origin for service workers), no certificate files."""
    block = nginx.doc_block(SECTION)
    for upstream, port in zip(UPSTREAMS, ports, strict=True):
        assert f"server {upstream} " in block
        block = block.replace(f"server {upstream} ", f"server 127.0.0.1:{port} ")
    for old, new in (("listen 443 ssl;", f"listen 127.0.0.1:{https_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};")):
        assert old in block
        block = block.replace(old, new)
    return "\n".join(line for line in block.splitlines()
                     if not line.strip().startswith("ssl_"))


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory,
              postgres_module_url: str) -> Iterator[list[ServerProcess]]:
    root = tmp_path_factory.mktemp("instances")
    started: list[ServerProcess] = []
    try:
        for i in range(3):
            started.append(ServerProcess(postgres_module_url, demo=True,
                                         env={"SYNCSERVER_MAX_WAIT": "5"},
                                         log=root / f"instance{i}.log").start())
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def balancer(tmp_path_factory: pytest.TempPathFactory,
             instances: list[ServerProcess]) -> Iterator[str]:
    root = tmp_path_factory.mktemp("balancer")
    port, http_port = free_port(), free_port()
    block = render([s.port for s in instances], port, http_port)
    with nginx.running(root, block, port):
        yield f"http://127.0.0.1:{port}"


def websockets_per_instance(instances: list[ServerProcess]) -> list[int]:
    counts = []
    for server in instances:
        text = httpx.get(server.url + "/metrics", timeout=5).text
        match = re.search(r"^syncserver_ws_connections (\S+)$", text, re.M)
        assert match, text[:500]
        counts.append(int(float(match.group(1))))
    return counts


def test_the_websocket_upgrade_and_long_polls_pass_the_balancer(balancer: str) -> None:
    async def ping() -> dict:
        async with connect(balancer.replace("http", "ws", 1) + "/v1/ws") as ws:
            await ws.send(orjson.dumps({"type": "ping"}).decode())
            return orjson.loads(await asyncio.wait_for(ws.recv(), 5))

    assert asyncio.run(ping()) == {"type": "pong"}
    with httpx.Client(base_url=balancer, timeout=30) as client:
        started = time.monotonic()
        waited = client.get("/v1/changes", params={"space": "lp", "since": "", "wait": 2})
        assert waited.status_code == 200 and time.monotonic() - started >= 1.5


def live(device: DemoPage) -> DemoPage:
    poll(device.page, lambda: device.status() == "up-to-date", what="the feed to be live")
    assert device.page.evaluate("window.app.sync.feedState") == "live"
    return device


def test_two_devices_on_different_instances_sync_live_through_nginx(
    browser: Browser, balancer: str, instances: list[ServerProcess]
) -> None:
    space = f"n-{uuid.uuid4().hex[:10]}"
    one = browser.new_context()
    two = None
    try:
        alice = live(DemoPage.open(one, balancer, space))
        # least_conn gives bob's WebSocket an instance without one, unless his own page's
        # requests happen to hold both others at that moment (nginx then breaks the tie):
        # he opens the demo again until his socket is on an instance of its own, so that the
        # push (a short request) lands on the third and every change crosses instances.
        for _attempt in range(5):
            two = browser.new_context()
            bob = live(DemoPage.open(two, balancer, space))
            counts = websockets_per_instance(instances)
            if sorted(counts) == [0, 1, 1]:
                break
            two.close()
            two = None
            wait_for(lambda: sum(websockets_per_instance(instances)) == 1,
                     what="bob's WebSocket to close")
        assert two is not None and sorted(counts) == [0, 1, 1], counts

        for writer, reader, title in ((alice, bob, "from alice"), (bob, alice, "from bob")):
            started = time.monotonic()
            writer.add(title)
            reader.page.wait_for_function(
                "t => [...document.querySelectorAll('#todos li .title')]"
                "  .some(e => e.value === t)", arg=title, timeout=5000)
            elapsed = time.monotonic() - started
            remote = [c for c in reader.events("changes") if c["origin"] == "remote"]
            assert remote, reader.events("changes")
            assert reader.page.evaluate("window.app.sync.feedState") == "live"
            assert elapsed < 3.0, elapsed
        assert sorted(alice.titles()) == sorted(bob.titles()) == ["from alice", "from bob"]
    finally:
        one.close()
        if two is not None:
            two.close()
