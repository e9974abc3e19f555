"""The browser client against a server whose per-user rate limit is spent (auth on, a
small bucket): the write is refused with 429 and Retry-After, stays queued (never
dead-lettered), the page hears a `rate-limited` event wherever the push ran (page or
service worker), and the write reaches the server once the wait is over, with no new
write to trigger it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll
from tests.browser.test_auth_client import APP_DIR, SECRET, token
from tests.helpers import pull_all
from tests.server import ServerProcess

RATE, BURST = 0.5, 4  # a token every 2 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("rate-app") / "sync.db", env={
        "SYNCSERVER_STATIC": str(APP_DIR), "SYNCSERVER_AUTH": "jwt",
        "SYNCSERVER_JWT_SECRET": SECRET, "SYNCSERVER_RATE_LIMIT": str(RATE),
        "SYNCSERVER_RATE_BURST": str(BURST)}).start()
    yield server
    server.stop()


def server_notes(base_url: str, space: str) -> list[str]:
    """The notes on the server, read by a reader of its own each time (a bucket of its own)."""
    reader = token(f"reader-{uuid.uuid4().hex[:8]}", {space: "r"})
    with httpx.Client(base_url=base_url, timeout=10,
                      headers={"authorization": f"Bearer {reader}"}) as client:
        state, _ = pull_all(client, space=space)
    return sorted(rec["data"]["text"] for rec in state.values() if not rec["deleted"])


def spend(base_url: str, bearer: str) -> None:
    """Take the user's tokens until the server answers 429."""
    with httpx.Client(base_url=base_url, timeout=10,
                      headers={"authorization": f"Bearer {bearer}"}) as client:
        for _ in range(BURST + 1):
            if client.get("/v1/conflicts").status_code == 429:
                return
    raise AssertionError("the bucket did not run out")


def test_a_rate_limited_write_waits_retry_after_and_is_delivered_then(
        browser: Browser, server: ServerProcess) -> None:
    space = f"rate-{uuid.uuid4().hex[:10]}"
    user = f"u{uuid.uuid4().hex[:8]}"
    bearer = token(user, {space: "rw"})
    context = browser.new_context()
    try:
        demo = DemoPage.open(context, server.url, space="")  # the space comes with signIn
        page, errors = demo.page, demo.errors
        page.evaluate("s => window.app.signIn(s)",
                      {"space": space, "user": user, "token": bearer})
        poll(page, lambda: page.evaluate("window.app.sync.feedState") == "live",
             what="the live feed")

        spend(server.url, bearer)
        page.evaluate("() => window.app.notes.put('n1', {text: 'limited'})")
        limited = poll(page, lambda: [e for e in page.evaluate("window.app.events['rate-limited']")
                                      if e["request"] == "push"], what="a rate-limited push")
        assert limited[0]["code"] == "rate_limited" and limited[0]["retryAfter"] >= 1
        assert page.evaluate("window.app.sync.pending") == 1  # kept, not dropped
        poll(page, lambda: server_notes(server.url, space) == ["limited"], timeout=20,
             what="the write on the server after the wait")
        poll(page, lambda: page.evaluate("window.app.sync.pending") == 0,
             what="the outbox to drain")
        assert page.evaluate("window.app.sync.deadLetters()") == []
        assert errors == []
    finally:
        context.close()
