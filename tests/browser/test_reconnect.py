"""The live feed survives a server restart: the page reconnects with backoff and resumes
from its stored cursor."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll
from tests.helpers import mutation


def test_the_feed_reconnects_after_a_restart_and_catches_up(
    browser: Browser, server_factory
) -> None:
    space = f"b-{uuid.uuid4().hex[:10]}"
    server = server_factory(demo=True)
    context = browser.new_context()
    try:
        app = DemoPage.open(context, server.url, space)
        app.add("before the restart")
        app.wait_synced()
        poll(app.page, lambda: app.status() == "up-to-date", what="a live feed")

        server.stop()
        poll(
            app.page,
            lambda: app.page.evaluate("window.app.sync.feedState") != "live",
            what="the page to notice the closed socket",
        )
        restarted = server_factory(db=server.db, demo=True, port=server.port)

        # Another device writes while this page is still reconnecting.
        with httpx.Client(base_url=restarted.url, timeout=10) as client:
            body = {
                "client_id": "other-device",
                "mutations": [
                    mutation(
                        1,
                        "from-elsewhere",
                        data={"title": "after the restart"},
                        space=space,
                        node="other-device",
                    )
                ],
            }
            assert client.post("/v1/push", json=body).json()["results"][0]["status"] == "applied"

        poll(
            app.page,
            lambda: sorted(app.titles()) == ["after the restart", "before the restart"],
            timeout=15,
            what="the change made during the outage",
        )
        poll(
            app.page,
            lambda: app.page.evaluate("window.app.sync.feedState") == "live",
            what="the feed to be live again",
        )
        remote = [c for c in app.events("changes") if c["origin"] == "remote"]
        assert any(r["id"] == "from-elsewhere" for c in remote for r in c["records"])
        assert app.errors == []
    finally:
        context.close()
