"""Your own PWA served with `syncserver serve --static DIR`: a tiny app of the tests' own
(static_app/: its page, its module using the library from /sync/, its own worker) registers
its worker, makes writes offline, and they reach the server through Background Sync."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.demo_app import SYNC_TAG, poll
from tests.helpers import pull_all
from tests.server import ServerProcess

APP_DIR = Path(__file__).resolve().parent / "static_app"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # ServerProcess passes --no-demo: --static serves the app and the library regardless.
    server = ServerProcess(tmp_path_factory.mktemp("static-app") / "sync.db",
                           env={"SYNCSERVER_STATIC": str(APP_DIR)}).start()
    yield server
    server.stop()


def server_notes(base_url: str, space: str) -> list[str]:
    """The texts of the space's notes, read from the real /v1/changes."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        state, _ = pull_all(client, space=space)
    return sorted(rec["data"]["text"] for (collection, _), rec in state.items()
                  if collection == "notes" and not rec["deleted"])


def add_note(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#new-note button[type=submit]")
    page.wait_for_function("t => [...document.querySelectorAll('#notes li')]"
                           ".some(li => li.textContent === t)", arg=text, timeout=5000)


@pytest.mark.parametrize("worker", ["sw.js", "sw-module.js"])
def test_own_app_registers_its_worker_and_its_offline_writes_reach_the_server(
        browser: Browser, server: ServerProcess, worker: str) -> None:
    space = f"static-{uuid.uuid4().hex[:10]}"
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        module = "&sw=module" if worker == "sw-module.js" else ""
        page.goto(f"{server.url}/?space={space}{module}")
        page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=10_000)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10_000)
        script = page.evaluate("navigator.serviceWorker.controller.scriptURL")
        assert script == f"{server.url}/{worker}"

        context.set_offline(True)
        for text in ("first", "second", "third"):
            add_note(page, text)
        poll(page, lambda: page.evaluate("window.app.sync.pending") == 3,
             what="three pending writes")
        tags = page.evaluate("async () => (await navigator.serviceWorker.ready).sync.getTags()")
        assert SYNC_TAG in tags, "the writes armed Background Sync"
        assert server_notes(server.url, space) == []

        context.set_offline(False)
        poll(page, lambda: server_notes(server.url, space) == ["first", "second", "third"],
             timeout=20, what="the three notes on the server")
        poll(page, lambda: page.evaluate("window.app.sync.pending") == 0,
             what="the outbox to drain")
        sources = {e["source"] for e in page.evaluate("window.app.replays")}
        assert "worker:sync" in sources, sources  # the app's own worker delivered them
        assert errors == []
    finally:
        context.close()


def test_a_worker_from_a_sub_path_may_control_the_whole_origin(
        browser: Browser, server: ServerProcess) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/manifest.webmanifest")  # any page of the origin
        scope = page.evaluate("""async () => {
            const r = await navigator.serviceWorker.register('/workers/scope-check.js',
                                                             { scope: '/' });
            return r.scope;
        }""")
        assert scope == f"{server.url}/"
    finally:
        context.close()
