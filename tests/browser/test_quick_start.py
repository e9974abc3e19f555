"""The README's quick start in Chromium: the demo served by `syncserver serve --dev` gets
its tokens from the dev endpoint (the browser client's `token` option) and syncs between
two devices, live and after one of them was offline; the server refuses requests without a
token all along."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll, server_todos
from tests.helpers import assert_problem
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def dev_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("quick") / "syncserver.db", demo=True,
                           args=["--dev"]).start()
    yield server
    server.stop()


def _token(server: ServerProcess, sub: str) -> str:
    answer = httpx.post(f"{server.url}/v1/dev/token", json={"sub": sub}, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def test_the_demo_of_a_dev_server_syncs_two_devices_with_dev_tokens(
        browser: Browser, dev_demo: ServerProcess) -> None:
    assert_problem(httpx.get(f"{dev_demo.url}/v1/changes", params={"space": "demo"},
                             timeout=10), 401, "unauthorized")
    one, two = browser.new_context(), browser.new_context()
    try:
        writer = DemoPage.open(one, dev_demo.url, "demo")  # the quick start's own space
        reader = DemoPage.open(two, dev_demo.url, "demo")
        poll(reader.page, lambda: reader.status() == "up-to-date",
             what="the reader's feed to be live")
        writer.add("from the quick start")
        poll(reader.page, lambda: reader.titles() == ["from the quick start"],
             what="the other device to show the todo")
        remote = [c for c in reader.events("changes") if c["origin"] == "remote"]
        assert remote, reader.events("changes")

        # Offline on one device: its service worker replays with the token the page stored.
        one.set_offline(True)
        writer.add("written offline")
        poll(writer.page, lambda: writer.pending() == 1, what="one pending write")
        one.set_offline(False)
        writer.wait_synced()
        poll(reader.page, lambda: sorted(reader.titles()) ==
             ["from the quick start", "written offline"], what="the offline write to arrive")

        titles = {r["data"]["title"] for r in
                  server_todos(dev_demo.url, "demo", _token(dev_demo, "checker")).values()}
        assert titles == {"from the quick start", "written offline"}
        assert writer.events("rejected") == [] and reader.events("rejected") == []
        assert writer.errors == [] and reader.errors == []
    finally:
        one.close()
        two.close()
