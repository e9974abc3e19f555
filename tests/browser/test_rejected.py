"""A write the server refuses goes to the dead letters, and never blocks the writes behind it."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser

from tests.browser.demo_app import DemoPage, poll, server_todos
from tests.server import ServerProcess


def test_a_rejected_write_is_dead_lettered_and_the_rest_delivered(
    browser: Browser, demo: ServerProcess
) -> None:
    context = browser.new_context()
    try:
        app = DemoPage.open(context, demo.url, f"b-{uuid.uuid4().hex[:10]}")
        context.set_offline(True)
        # Larger than the server's record limit (SYNCSERVER_MAX_RECORD_BYTES, 256 kB).
        app.page.evaluate(
            "window.app.todos.put('huge', { title: 'huge', notes: 'x'.repeat(300000) })"
        )
        app.add("small and fine")
        poll(app.page, lambda: app.pending() == 2, what="two queued writes")
        assert "huge" in app.titles()

        context.set_offline(False)
        app.wait_synced()
        assert [t["data"]["title"] for t in server_todos(demo.url, app.space).values()] == [
            "small and fine"
        ]
        [rejected] = app.events("rejected")
        assert rejected["result"]["code"] == "record_too_large"
        assert rejected["mutation"]["id"] == "huge"
        # The optimistic copy is gone; the app shows the dead letter and can clear it.
        poll(app.page, lambda: app.titles() == ["small and fine"], what="the refused todo to go")
        assert app.page.is_visible("#dead-panel")
        assert "record_too_large" in app.page.inner_text("#dead-letters")
        app.page.click("#clear-dead")
        poll(app.page, lambda: app.page.is_hidden("#dead-panel"), what="the panel to clear")
        assert app.page.evaluate("async () => (await window.app.sync.deadLetters()).length") == 0
    finally:
        context.close()
