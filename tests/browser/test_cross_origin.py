"""A PWA served from another origin than its sync server, in real Chromium: its page on
http://localhost:A (a plain static server standing in for a CDN) syncs with a syncserver on
http://127.0.0.1:B through the CORS allow-list (pushes, the changes feed, the WebSocket),
and without the list its push never leaves the page (refused preflight) and the WebSocket
handshake is refused."""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.demo_app import poll
from tests.browser.test_static_app import server_notes
from tests.server import REPO, ServerProcess, free_port

APP_DIR = Path(__file__).resolve().parent / "cross_origin_app"
LIBRARY = REPO / "client_sw" / "src"


class AppFiles(SimpleHTTPRequestHandler):
    """The app at /, the client library at /sync/: what a CDN would serve."""

    def translate_path(self, path: str) -> str:
        if path.startswith("/sync/"):
            return str(LIBRARY / path[len("/sync/"):].split("?")[0])
        return super().translate_path(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_origin() -> Iterator[str]:
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port),
                                functools.partial(AppFiles, directory=str(APP_DIR)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}"  # another origin than 127.0.0.1, on the same machine
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def allowing(app_origin: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("cors-on") / "sync.db",
                           env={"SYNCSERVER_CORS_ORIGINS": app_origin}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("cors-off") / "sync.db").start()
    yield server
    server.stop()


def _open(page: Page, app_origin: str, server: ServerProcess, space: str) -> None:
    page.goto(f"{app_origin}/?space={space}&server={server.url}/")
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=10_000)


def _put(page: Page, text: str) -> None:
    page.evaluate("t => window.app.notes.put(crypto.randomUUID(), { text: t })", text)


def test_a_page_of_a_listed_origin_pushes_and_follows_the_live_feed(
        browser: Browser, app_origin: str, allowing: ServerProcess) -> None:
    space = f"x-{uuid.uuid4().hex[:10]}"
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        _open(page, app_origin, allowing, space)
        poll(page, lambda: page.evaluate("window.app.sync.feedState") == "live",
             what="the WebSocket feed to be live across origins")
        _put(page, "across origins")
        poll(page, lambda: server_notes(allowing.url, space) == ["across origins"],
             what="the push to reach the server")
        poll(page, lambda: page.evaluate("window.app.sync.pending") == 0,
             what="the outbox to drain")
        poll(page, lambda: page.text_content("#status") == "up-to-date", what="up-to-date")
        assert errors == []
    finally:
        context.close()


def test_without_the_allow_list_the_push_is_stopped_by_its_preflight(
        browser: Browser, app_origin: str, refusing: ServerProcess) -> None:
    space = f"x-{uuid.uuid4().hex[:10]}"
    context = browser.new_context()
    try:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        _open(page, app_origin, refusing, space)
        _put(page, "blocked")
        poll(page, lambda: any("CORS" in line for line in console),
             what="Chromium to report the refused preflight")
        poll(page, lambda: page.evaluate("window.app.sync.trouble") == "unreachable",
             what="the client to take in that its requests fail")
        assert page.evaluate("window.app.sync.pending") == 1
        assert page.evaluate("window.app.sync.feedState") != "live"
        assert server_notes(refusing.url, space) == []
    finally:
        context.close()
